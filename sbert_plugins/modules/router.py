"""Router: a different module chain per task, e.g. a cheap query encoder and a strong document encoder."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.chain import InputModule, chain_output_dim

ROUTER_CONFIG = "router_config.json"
LEGACY_ASYM_CONFIG = "config.json"
# Inputs here are always text: the reference infers this modality for strings and routes by it too.
TEXT_MODALITY = "text"
TASK_KEY = "task"

RouteKey = tuple[str | None, str | tuple[str, ...] | None]
ModuleLoader = Callable[[str, Path], nn.Module]


class Router(nn.Module):
    """Sends each batch through the module chain of its task (``"query"``, ``"document"``, ...).

    The route of a batch comes from ``features["task"]``, which :meth:`SentenceEncoder.tokenize` sets from
    its ``task`` argument (``encode_queries`` uses ``"query"``, ``encode_documents`` ``"document"``). It is
    resolved as the reference resolves it for text: ``route_mappings[(task, "text")]``, then
    ``(task, None)``, ``(None, "text")``, ``(None, None)``; then a route named like the task, then one named
    ``"text"``; otherwise ``default_route``. With no task (plain ``encode``), the default route is used.

    Args:
        routes: route name → its modules, in order; the first module of each route tokenizes.
        default_route: the route for batches without a task; when None and ``allow_empty_key``, the first route.
        allow_empty_key: allow a default route at all (False: a batch without a task is an error).
        route_mappings: ``(task, modality) → route`` rules (``None`` is a wildcard), as in the reference.

    Raises:
        ConfigError: no routes, a route without modules, or a default route or mapping naming a missing route.
    """

    st_type = "sentence_transformers.base.modules.router.Router"

    def __init__(
        self,
        routes: Mapping[str, Sequence[nn.Module]],
        *,
        default_route: str | None = None,
        allow_empty_key: bool = True,
        route_mappings: Mapping[RouteKey, str] | None = None,
    ) -> None:
        super().__init__()
        if not routes:
            raise ConfigError("a Router needs at least one route")
        empty = [name for name, modules in routes.items() if not modules]
        if empty:
            raise ConfigError(f"Router routes {empty} have no modules; give each route at least an input module")
        self.sub_modules = nn.ModuleDict({name: nn.Sequential(*modules) for name, modules in routes.items()})
        mappings = dict(route_mappings or {})
        named = [*mappings.values(), *([default_route] if default_route is not None else [])]
        unknown = sorted({route for route in named if route not in routes})
        if unknown:
            raise ConfigError(f"Router names routes {unknown} that do not exist; routes: {list(routes)}")
        if default_route is None and allow_empty_key:
            default_route = next(iter(routes))
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings = mappings

    @classmethod
    def for_query_document(
        cls,
        query_modules: Sequence[nn.Module],
        document_modules: Sequence[nn.Module],
        *,
        default_route: str | None = "document",
    ) -> Router:
        """A Router with a ``"query"`` and a ``"document"`` route; plain ``encode`` takes ``default_route``."""
        return cls({"query": query_modules, "document": document_modules}, default_route=default_route)

    # ---- routing ---------------------------------------------------------------------------------

    @property
    def routes(self) -> list[str]:
        return list(self.sub_modules)

    def chain(self, route: str) -> nn.Sequential:
        """The modules of ``route``, in order."""
        return cast(nn.Sequential, self.sub_modules[route])

    def _inputs(self) -> list[InputModule]:
        return [cast(InputModule, self.chain(route)[0]) for route in self.routes]

    def route_for(self, task: str | None) -> str:
        """The route a batch with ``task`` (None: no task) goes through.

        Raises:
            ConfigError: the task matches no route, or there is no task and no default route.
        """
        for key in ((task, TEXT_MODALITY), (task, None), (None, TEXT_MODALITY), (None, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        if task is not None and task in self.sub_modules:
            return task
        if TEXT_MODALITY in self.sub_modules:
            return TEXT_MODALITY
        if task is not None:
            raise ConfigError(f"the Router has no route for task {task!r}; routes: {self.routes}")
        if self.default_route is None:
            raise ConfigError(
                f"the Router has no default route; pass a task (routes: {self.routes}), or when training set "
                "TrainingConfig.router_mapping to give each text column its task"
            )
        return self.default_route

    def input_module(self, task: str | None = None) -> InputModule:
        """The module that tokenizes for ``task``: the first module of its route."""
        return self.chain(self.route_for(task))[0]  # type: ignore[return-value]

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """Run ``features`` through the route of ``features["task"]`` (the default route when absent)."""
        return self.chain(self.route_for(features.get(TASK_KEY)))(features)  # type: ignore[no-any-return]

    # ---- what the encoder asks of its first module (answered by the default route) ---------------

    @property
    def embedding_dim(self) -> int:
        """The size of the vectors the default route (else the first route) produces."""
        return chain_output_dim(list(self.chain(self.default_route or self.routes[0])))

    @property
    def output_dim(self) -> int:
        return self.embedding_dim

    @property
    def tokenizer(self) -> Any:
        """The default route's (else the first route's) tokenizer."""
        return self.chain(self.default_route or self.routes[0])[0].tokenizer

    @property
    def max_seq_length(self) -> int | None:
        """The largest ``max_seq_length`` of the routes' input modules (None when none truncates)."""
        limits = [m.max_seq_length for m in self._inputs() if m.max_seq_length is not None]
        return max(limits) if limits else None

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        for module in self._inputs():
            if module.max_seq_length is not None:
                module.max_seq_length = value  # type: ignore[misc]

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        return self.input_module(None).token_ids(texts, truncate=truncate)

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        return self.input_module(None).collate(ids, device)

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        return self.input_module(None).tokenize(texts)

    # ---- files -----------------------------------------------------------------------------------

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {str(key): route for key, route in self.route_mappings.items()},
        }

    def save(self, path: Path) -> None:
        """Write ``router_config.json`` and each module in ``{route}_{index}_{class}/`` (the reference's layout)."""
        path.mkdir(parents=True, exist_ok=True)
        ids: dict[int, str] = {}
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for route in self.routes:
            structure[route] = []
            for index, module in enumerate(self.chain(route)):
                if id(module) not in ids:  # a module shared by two routes is saved once
                    module_id = f"{route}_{index}_{type(module).__name__}"
                    ids[id(module)] = module_id
                    types[module_id] = module.st_type  # type: ignore[assignment]
                    module.save(path / module_id)  # type: ignore[operator]
                structure[route].append(ids[id(module)])
        write_json(path / ROUTER_CONFIG, {"types": types, "structure": structure, "parameters": self.get_config_dict()})

    @classmethod
    def load(cls, path: Path, load_module: ModuleLoader) -> Router:
        """Read ``router_config.json`` (or a legacy ``Asym`` ``config.json``); ``load_module(type, folder)``
        builds each module, so only the types the loader knows are ever built.

        Raises:
            ConfigError: the config is missing or malformed, or names a module folder outside ``path``.
        """
        config_path = path / ROUTER_CONFIG if (path / ROUTER_CONFIG).is_file() else path / LEGACY_ASYM_CONFIG
        if not config_path.is_file():
            raise ConfigError(f"{path}: a Router folder needs {ROUTER_CONFIG}, which is missing")
        config = read_json(config_path)
        types, structure = config.get("types"), config.get("structure")
        if not isinstance(types, dict) or not isinstance(structure, dict):
            raise ConfigError(f"{config_path}: expected 'types' and 'structure' objects")
        modules: dict[str, nn.Module] = {}
        for module_id, module_type in types.items():
            folder = (path / module_id).resolve()
            if not folder.is_relative_to(path.resolve()):
                raise ConfigError(f"{config_path}: module folder {module_id!r} lies outside {path}")
            modules[module_id] = load_module(str(module_type), folder)
        try:
            routes = {route: [modules[m] for m in ids] for route, ids in structure.items()}
        except KeyError as exc:
            raise ConfigError(f"{config_path}: 'structure' names module {exc.args[0]!r}, absent from 'types'") from exc
        parameters = dict(config.get("parameters") or {})
        mappings = {
            _route_key(key, config_path): route for key, route in (parameters.get("route_mappings") or {}).items()
        }
        try:
            return cls(
                routes,
                default_route=parameters.get("default_route"),
                allow_empty_key=bool(parameters.get("allow_empty_key", True)),
                route_mappings=mappings,
            )
        except ConfigError as exc:
            raise ConfigError(f"{config_path}: {exc}") from exc


def _route_key(text: str, source: Path) -> RouteKey:
    """Parse a stored ``"('query', 'text')"`` key (a Python literal, never evaluated as code)."""
    try:
        key = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ConfigError(f"{source}: route_mappings key {text!r} is not a (task, modality) pair") from exc
    if not (isinstance(key, tuple) and len(key) == 2):
        raise ConfigError(f"{source}: route_mappings key {text!r} is not a (task, modality) pair")
    task, modality = key
    return task, tuple(sorted(modality)) if isinstance(modality, tuple) else modality
