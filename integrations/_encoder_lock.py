"""One lock per encoder object, shared by every adapter that calls into it (vendor-free)."""

from __future__ import annotations

import threading
import weakref

_ENCODER_LOCKS: weakref.WeakKeyDictionary[object, threading.Lock] = weakref.WeakKeyDictionary()
_ENCODER_LOCKS_GUARD = threading.Lock()


def encoder_lock(encoder: object) -> threading.Lock:
    """The lock that serialises the adapters' calls into one ``encoder`` (one lock per encoder object).

    ``SentenceEncoder.encode`` switches the model to eval mode and back to its previous mode when it is
    done; two threads encoding with one model that is in training mode would switch dropout back on
    under each other and get wrong embeddings. Serialising also avoids two thread pools fighting over
    the same cores. Held weakly: it goes away with the encoder.
    """
    with _ENCODER_LOCKS_GUARD:
        lock = _ENCODER_LOCKS.get(encoder)
        if lock is None:
            lock = _ENCODER_LOCKS[encoder] = threading.Lock()
        return lock
