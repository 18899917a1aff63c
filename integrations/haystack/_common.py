"""What the Haystack components share: loading a model once, late; reading loading settings; input checks."""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from haystack import Document, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice, Secret

from integrations._base import positive_int
from sbert_plugins.errors import ConfigError

T = TypeVar("T")
S = TypeVar("S", bound="SerializableComponent")

# Where Hugging Face tokens are read from when no token is given (Haystack's usual variables).
DEFAULT_TOKEN = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False)


class LazyModel(Generic[T]):
    """A model built by ``load`` on first :meth:`get`, exactly once even when threads race to it."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model was built already."""
        return self._value is not None

    def get(self) -> T:
        """The model, built now if this is the first call."""
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._load()
                value = self._value
        return value


def check_model_name(model: Any) -> str:
    """``model`` (a path or id) as a string, else :class:`ConfigError`."""
    if hasattr(model, "__fspath__"):
        model = str(model)
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(
            f"model must be a model id or folder path (a non-empty string), found {model!r}; "
            "a component is rebuilt from its to_dict(), so it takes a name, not a loaded model object"
        )
    return model


def check_optional_positive(name: str, value: Any) -> int | None:
    """``value`` if it is None or a positive integer, else :class:`ConfigError` naming ``name``."""
    return None if value is None else positive_int(name, value)


def check_device(device: Any) -> ComponentDevice | None:
    """``device`` if it is None or a single-device :class:`ComponentDevice`, else :class:`ConfigError`."""
    if device is None:
        return None
    if not isinstance(device, ComponentDevice):
        raise ConfigError(
            f"device must be a haystack ComponentDevice (e.g. ComponentDevice.from_str('cuda:0')) or None, "
            f"found {type(device).__name__}"
        )
    if device.has_multiple_devices:
        raise ConfigError("device maps are not supported: pass one device, e.g. ComponentDevice.from_str('cuda:0')")
    return device


def check_token(token: Any) -> Secret | None:
    """``token`` if it is None or a haystack :class:`Secret`, else :class:`ConfigError`."""
    if token is not None and not isinstance(token, Secret):
        raise ConfigError(
            f"token must be a haystack Secret (e.g. Secret.from_env_var('HF_TOKEN')) or None, "
            f"found {type(token).__name__}: a plain string would be written into saved pipelines"
        )
    return token


def check_separator(separator: Any) -> str:
    """``separator`` if it is a string, else :class:`ConfigError`."""
    if not isinstance(separator, str):
        raise ConfigError(f"embedding_separator must be a string, found {type(separator).__name__}")
    return separator


def check_meta_fields(fields: Any) -> list[str]:
    """``fields`` (None or a list of metadata keys) as a list, else :class:`ConfigError`."""
    if fields is None:
        return []
    if isinstance(fields, str) or not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
        raise ConfigError(f"meta_fields_to_embed must be a list of metadata keys, found {fields!r}")
    return list(fields)


class LoadingSettings(Protocol):
    """The loading settings a component keeps as attributes (the names of its init parameters)."""

    device: ComponentDevice | None
    token: Secret | None
    revision: str | None
    local_files_only: bool
    trust_remote_code: bool


def loading_kwargs(settings: LoadingSettings) -> dict[str, Any]:
    """The keyword arguments :class:`~sbert_plugins.SentenceEncoder` and
    :class:`~sbert_plugins.cross_encoder.CrossEncoder` share for loading (the token resolved here, late)."""
    return {
        "device": settings.device.to_torch_str() if settings.device is not None else None,
        "token": settings.token.resolve_value() if settings.token is not None else None,
        "revision": settings.revision,
        "local_files_only": settings.local_files_only,
        "trust_remote_code": settings.trust_remote_code,
    }


class SerializableComponent:
    """``to_dict`` / ``from_dict`` from the init parameters a component reports in :meth:`init_parameters`.

    (Not an ``ABC``: Haystack's ``@component`` gives the class its own metaclass.)
    """

    @abstractmethod
    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""

    def to_dict(self) -> dict[str, Any]:
        """Every init parameter, serialized (``Secret`` and ``ComponentDevice`` as their own dicts).

        Raises:
            ValueError: a token given as a value (``Secret.from_token``) would be written out in clear.
        """
        return default_to_dict(self, **self.init_parameters())

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any]) -> S:
        """The component :meth:`to_dict` describes."""
        return default_from_dict(cls, data)


def check_query(text: Any, component: str) -> str:
    """``text`` if it is a string, else a ``TypeError`` that points to the document embedder."""
    if not isinstance(text, str):
        hint = " (to embed Documents use the matching document embedder)" if isinstance(text, (list, tuple)) else ""
        raise TypeError(f"{component} expects text: str, found {type(text).__name__}{hint}")
    return text


def check_documents(documents: Any, component: str) -> list[Document]:
    """``documents`` as a list of Documents that have text content.

    Raises:
        TypeError: ``documents`` is not a list of :class:`Document` (a ``str`` included: the message
            names the text embedder), or an element is not a Document (named by index).
        ValueError: a document has no text content (named by index and id).
    """
    if isinstance(documents, str) or not isinstance(documents, (list, tuple)):
        hint = " (to embed a query string use the matching text embedder)" if isinstance(documents, str) else ""
        raise TypeError(f"{component} expects documents: list[Document], found {type(documents).__name__}{hint}")
    for index, document in enumerate(documents):
        if not isinstance(document, Document):
            raise TypeError(
                f"{component}: documents[{index}] is {type(document).__name__}, expected a haystack Document"
            )
        if not isinstance(document.content, str):
            raise ValueError(
                f"{component}: documents[{index}] (id {document.id!r}) has no text content; "
                "give it content or leave it out (converters and splitters set content)"
            )
    return list(documents)


def document_texts(documents: Sequence[Document], meta_fields: Sequence[str], separator: str) -> list[str]:
    """Each document's text to embed: the values of ``meta_fields`` it has (in that order), then its
    content, joined by ``separator``."""
    texts = []
    for document in documents:
        parts = [str(document.meta[key]) for key in meta_fields if document.meta.get(key) is not None]
        texts.append(separator.join([*parts, document.content or ""]))
    return texts
