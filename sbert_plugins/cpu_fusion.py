"""fp32 and bf16 inference on CPU through oneDNN's fused linear kernels.

A plain ``nn.Linear`` runs as ``addmm``: the bias is first copied into the output, then the product is
added to it, and the feed-forward GELU reads and writes the whole activation once more. oneDNN's
``linear_pointwise`` kernel adds the bias and applies the GELU while the product's tiles are still in
cache (float32, or bfloat16 on AMX or AVX512-BF16), so the element-wise work costs almost nothing (the
README's roofline row gives the measured gain); embeddings stay within rounding of the unfused ones (fp32:
within the reference-parity tolerance).

:func:`fuse_linear_layers` changes the class of a model's linear layers in place (the weights, the
module tree, ``state_dict`` and saving stay as they were): the fused kernel runs only for inference
(no gradient) on float32 or bfloat16 CPU tensors, in eager mode; training, autocast, any other dtype or device,
and compiled, exported or traced graphs take the plain path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers.activations import GELUActivation

FUSED_DTYPES = (torch.float32, torch.bfloat16)
"""The dtypes whose CPU inference runs the fused kernels (fp16 on CPU keeps the plain path)."""


def fused_kernels_available() -> bool:
    """Whether this torch build has oneDNN's fused linear kernel (x86 and ARM builds with mkldnn)."""
    return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def _runs_fused(layer: nn.Linear, x: Tensor) -> bool:
    # Compiled, exported and traced graphs (torch.compile, torch.export, the ONNX exporter) get the plain
    # layers: inductor fuses them itself and lowers this kernel only for weights frozen into the graph, and
    # ONNX has no such op.
    return (
        not torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
        and not torch.jit.is_tracing()
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")  # autocast casts inputs for F.linear, not for this kernel
        and x.dtype in FUSED_DTYPES
        and layer.weight.dtype == x.dtype
    )


class FusedLinear(nn.Linear):
    """``nn.Linear`` whose bias is added inside oneDNN's product kernel for fp32 and bf16 CPU inference."""

    def forward(self, x: Tensor) -> Tensor:
        if _runs_fused(self, x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


class FusedLinearGelu(nn.Linear):
    """``gelu(linear(x))`` (exact, erf-based GELU), with bias and GELU fused into oneDNN's product kernel
    for fp32 and bf16 CPU inference. It replaces a feed-forward up-projection whose activation became the identity."""

    def forward(self, x: Tensor) -> Tensor:
        if _runs_fused(self, x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu", [], "none")
        return F.gelu(F.linear(x, self.weight, self.bias))


def _is_exact_gelu(module: object) -> bool:
    if isinstance(module, GELUActivation):
        return module.act is F.gelu  # the Python erf formula gives the same values, but is kept as it is
    return isinstance(module, nn.GELU) and module.approximate == "none"


def fuse_linear_layers(model: nn.Module) -> int:
    """Turn ``model``'s ``nn.Linear`` layers into :class:`FusedLinear`, and each feed-forward
    up-projection followed by an exact GELU (a module with a linear ``dense`` and an ``intermediate_act_fn``,
    as in BERT, RoBERTa, MPNet, ...) into :class:`FusedLinearGelu` with the activation set to the identity.

    Returns:
        How many layers were changed; 0 when :func:`fused_kernels_available` is False (nothing is changed).
    """
    if not fused_kernels_available():
        return 0
    changed = 0
    for module in list(model.modules()):
        dense = getattr(module, "dense", None)
        if type(dense) is nn.Linear and _is_exact_gelu(getattr(module, "intermediate_act_fn", None)):
            dense.__class__ = FusedLinearGelu
            module.intermediate_act_fn = nn.Identity()
            changed += 1
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = FusedLinear
            changed += 1
    return changed
