"""int8 inference on CPU through ONNX Runtime (the optional ``[onnx]`` extra).

The transformer is exported to ONNX once, its BERT blocks fused (attention, GELU, layer norms) by
ONNX Runtime's transformer optimizer, and its linear layers quantized to int8 with dynamic
(per-batch) activation scales and per-output-channel weight scales. The feed-forward down-projections
(``intermediate_size -> hidden_size``) stay float32: their inputs carry the outlier activations that
cost all-MiniLM-L6-v2 the most accuracy when quantized (per-row cosine to fp32 on STSb dev: min 0.98
with them quantized, 0.993 without).

The result is cached on disk, keyed by a hash of the weights, the model config and the library
versions, so the export (tens of seconds) happens once per model: under ``$SBERT_PLUGINS_CACHE``,
else ``$XDG_CACHE_HOME/sbert_plugins``, else ``~/.cache/sbert_plugins``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sbert_plugins.errors import SbertPluginsError, missing_dependency

if TYPE_CHECKING:
    from sbert_plugins.modules import Transformer

logger = logging.getLogger(__name__)

CACHE_ENV = "SBERT_PLUGINS_CACHE"
INT8_FILE = "model_int8.onnx"
# Bump when the export or quantization recipe changes, so old cache entries are not reused.
_RECIPE = "int8-dynamic-perchannel-ffnout-fp32-v1"
# Model types whose graph ONNX Runtime's "bert" optimizer knows how to fuse.
_FUSABLE = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    """Where exported models are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sbert_plugins"


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise missing_dependency(exc.name or "onnxruntime", "onnx") from exc
    return onnx, onnxruntime


class _Wrapper(nn.Module):
    """The Hugging Face model with positional inputs and one output, as the exporter wants."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(**dict(zip(self.names, inputs)), return_dict=True).last_hidden_state


def content_key(transformer: Transformer) -> str:
    """A hash of the transformer's weights, config and the exporting libraries' versions."""
    _, onnxruntime = _require_onnx()
    digest = hashlib.sha256()
    versions = f"{_RECIPE}|torch {torch.__version__}|onnxruntime {onnxruntime.__version__}"
    digest.update(versions.encode())
    digest.update(transformer.auto_model.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(transformer.auto_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def int8_model_path(transformer: Transformer) -> Path:
    """The cached int8 ONNX file for ``transformer``, exported and quantized first if not there yet.

    Raises:
        MissingDependencyError: ``onnx`` or ``onnxruntime`` is not installed (``pip install "sbert-plugins[onnx]"``).
        SbertPluginsError: the export or the quantization failed (the message says which).
    """
    folder = cache_root() / "onnx" / content_key(transformer)
    target = folder / INT8_FILE
    if target.is_file():
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    logger.info("exporting the transformer to int8 ONNX under %s (once per model)", folder)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        _export_int8(transformer, work)
        if folder.is_dir() and not target.is_file():  # left over from an interrupted run
            shutil.rmtree(folder, ignore_errors=True)
        # Another process may have finished first: either copy is the same.
        try:
            work.rename(folder)
        except OSError:
            if not target.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _export_int8(transformer: Transformer, work: Path) -> None:
    onnx, _ = _require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = copy.deepcopy(transformer.auto_model).float().cpu().eval()
    # Plain attention exports as the MatMul/Softmax pattern that the optimizer fuses into one op.
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    sample = transformer.tokenize(["an example sentence", "a second, somewhat longer example sentence"])
    names = tuple(k for k in _INPUTS if k in sample)
    exported = work / "model.onnx"
    axes = {k: {0: "batch", 1: "sequence"} for k in (*names, "last_hidden_state")}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(model, names),
                tuple(sample[k] for k in names),
                str(exported),
                input_names=list(names),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise SbertPluginsError(f"exporting the transformer to ONNX failed: {type(exc).__name__}: {exc}") from exc
    config = model.config
    if getattr(config, "model_type", "") in _FUSABLE:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(exported),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        optimized.save_model_to_file(str(work / "fused.onnx"))
        exported = work / "fused.onnx"
    graph = onnx.load(str(exported), load_external_data=False).graph
    keep_float = _ffn_down_projections(graph, int(config.intermediate_size), int(config.hidden_size))
    quiet = _DropRootWarnings()
    logging.getLogger().addFilter(quiet)  # the quantizer warns through the root logger about optional steps
    try:
        quantize_dynamic(
            str(exported),
            str(work / INT8_FILE),
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    except Exception as exc:
        raise SbertPluginsError(f"quantizing the ONNX model to int8 failed: {type(exc).__name__}: {exc}") from exc
    finally:
        logging.getLogger().removeFilter(quiet)
    for path in work.iterdir():
        if path.name != INT8_FILE:
            path.unlink()


class _DropRootWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root"


def _ffn_down_projections(graph: Any, intermediate: int, hidden: int) -> list[str]:
    """Names of the MatMul nodes whose constant weight is ``intermediate x hidden``."""
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and shapes.get(node.input[1]) == (intermediate, hidden)
    ]


class OnnxInt8Transformer:
    """Runs a :class:`Transformer`'s int8 ONNX copy: ``features`` in, ``token_embeddings`` (float32) out.

    The ONNX Runtime session is created on first use with ``num_threads`` intra-op threads (default:
    torch's current count), and dropped when pickled (e.g. sent to an :class:`EncodePool` worker),
    which re-creates it from the cached file.

    Raises:
        MissingDependencyError: ``onnxruntime`` is not installed.
    """

    def __init__(self, transformer: Transformer) -> None:
        self.path = int8_model_path(transformer)
        self._session: Any = None
        self._threads: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_session": None, "_threads": None}

    def session(self, num_threads: int | None) -> Any:
        """The ONNX Runtime session, (re-)created when the thread count changes."""
        threads = num_threads or torch.get_num_threads()
        if self._session is None or threads != self._threads:
            _, onnxruntime = _require_onnx()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._threads = threads
        return self._session

    def __call__(self, features: dict[str, Tensor], num_threads: int | None = None) -> dict[str, Tensor]:
        session = self.session(num_threads)
        inputs = {i.name: features[i.name].cpu().numpy() for i in session.get_inputs()}
        (hidden,) = session.run(["last_hidden_state"], inputs)
        features["token_embeddings"] = torch.from_numpy(hidden)
        return features
