"""quantclaw from Python: the C ABI of libquantclaw through ctypes (no compiled extension).

    import quantclaw
    with quantclaw.Router({"tiers": [...], "policy": {...}}) as router:
        router.on_step({"session_id": "s1", "messages": [{"role": "user", "content": "hi"}]})
        decision = router.choose_precision("s1")
        print(decision.tier_name, decision.reason)

The library is found at $QUANTCLAW_PLUGIN, else ./plugins/libquantclaw.so.1 (the plugins-directory
convention every example host follows), else by the system's library search.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

QC_OK = 0
QC_ERR_INVALID_ARGUMENT = 1
QC_ERR_PARSE = 2
QC_ERR_INVALID_CONFIG = 3
QC_ERR_UNKNOWN_SESSION = 4
QC_ERR_TOO_LARGE = 5
QC_ERR_BAD_HANDLE = 6
QC_ERR_VERSION = 7
QC_ERR_OUT_OF_ORDER = 8
QC_ERR_INTERNAL = 9
QC_ERR_UNAVAILABLE = 10
QC_ERR_TIMEOUT = 11
QC_ERR_CANCELLED = 12
QC_ERR_UPSTREAM = 13

QC_FORMAT_PROTOBUF = 1
QC_FORMAT_JSON = 2

QC_DECISION_FORCED = 1
QC_DECISION_ESCALATED = 2
QC_DECISION_BUDGET_HELD = 4
QC_DECISION_DEFAULTED = 8
QC_DECISION_PHASE_SPLIT = 16
QC_DECISION_CACHE_HELD = 32
# The step is shadow-sampled: put request_json and action_text (or response_json) in its outcome.
QC_DECISION_SHADOW_SAMPLED = 64

ABI_MAJOR = 1
PLUGIN_ENVIRONMENT_VARIABLE = "QUANTCLAW_PLUGIN"
PLUGINS_DIRECTORY_PATH = os.path.join("plugins", "libquantclaw.so.1")


class QuantClawError(Exception):
    """A call the library refused: `status` is its QC_ERR_* code, the message is the library's."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ConfigError(QuantClawError, ValueError):
    """The config has problems; `problems` lists them as (JSON pointer, reason)."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.problems = [tuple(line.split(": ", 1)) if ": " in line else ("", line) for line in message.splitlines()]


class UnknownSessionError(QuantClawError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class TierError(QuantClawError, ConnectionError):
    """qc_complete: the tier could not be reached, or answered an error or a broken response."""


class TierTimeout(QuantClawError, TimeoutError):
    """qc_complete: a connect, first-byte or total timeout."""


class Cancelled(QuantClawError):
    """qc_complete: the chunk callback stopped the call."""


_ChunkFn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)


class _Bytes(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class _Buffer(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("reserved0", ctypes.c_uint32),
                ("data", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t)]


class _Decision(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("tier_index", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("prefill_tier_index", ctypes.c_uint32), ("step_index", ctypes.c_uint64),
                ("score", ctypes.c_double), ("threshold", ctypes.c_double), ("tier_name", ctypes.c_char * 64),
                ("step_kind", ctypes.c_char * 32), ("reason", ctypes.c_char * 192)]


@dataclass(frozen=True)
class Decision:
    tier_index: int
    tier_name: str
    prefill_tier_index: int
    step_index: int
    step_kind: str
    score: Optional[float]  # None when no scorer ran (a forced decision)
    threshold: Optional[float]
    reason: str
    flags: int

    @property
    def forced(self) -> bool:
        return bool(self.flags & QC_DECISION_FORCED)

    @property
    def escalated(self) -> bool:
        return bool(self.flags & QC_DECISION_ESCALATED)

    @property
    def budget_held(self) -> bool:
        return bool(self.flags & QC_DECISION_BUDGET_HELD)

    @property
    def shadow_sampled(self) -> bool:
        """Report this step's request_json and action_text (or response_json) in its outcome."""
        return bool(self.flags & QC_DECISION_SHADOW_SAMPLED)


def find_library() -> str:
    """The library path by the plugins-directory convention."""
    from_environment = os.environ.get(PLUGIN_ENVIRONMENT_VARIABLE)
    if from_environment:
        return from_environment
    if os.path.exists(PLUGINS_DIRECTORY_PATH):
        return os.path.abspath(PLUGINS_DIRECTORY_PATH)
    found = ctypes.util.find_library("quantclaw")
    if found:
        return found
    raise FileNotFoundError(f"libquantclaw not found: set {PLUGIN_ENVIRONMENT_VARIABLE} or put it at "
                            f"{PLUGINS_DIRECTORY_PATH}")


_libraries: dict[str, ctypes.CDLL] = {}


def load(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads the library once per path and declares the C signatures."""
    path = path or find_library()
    if path in _libraries:
        return _libraries[path]
    library = ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
    version = library.qc_abi_version()
    if version >> 16 != ABI_MAJOR:
        raise QuantClawError(QC_ERR_VERSION, f"{path} implements ABI {version >> 16}.{version & 0xFFFF}, "
                                             f"this module speaks ABI {ABI_MAJOR}")
    handle = ctypes.c_void_p
    status = ctypes.c_int32
    signatures = {
        "qc_abi_version": (ctypes.c_uint32, []),
        "qc_router_new": (status, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(handle)]),
        "qc_router_free": (status, [handle]),
        "qc_router_reload": (status, [handle, ctypes.c_char_p, ctypes.c_size_t]),
        "qc_on_step": (status, [handle, ctypes.POINTER(_Bytes), ctypes.c_uint32]),
        "qc_choose_precision": (status, [handle, ctypes.POINTER(_Bytes), ctypes.c_uint32, ctypes.POINTER(_Decision)]),
        "qc_report_outcome": (status, [handle, ctypes.POINTER(_Bytes), ctypes.c_uint32]),
        "qc_session_end": (status, [handle, ctypes.c_char_p, ctypes.c_size_t]),
        "qc_metrics": (status, [handle, ctypes.POINTER(_Buffer)]),
        "qc_buffer_free": (None, [ctypes.POINTER(_Buffer)]),
        "qc_last_error": (ctypes.c_char_p, []),
    }
    if version & 0xFFFF >= 1:  # ABI 1.1
        signatures["qc_complete"] = (status, [handle, ctypes.POINTER(_Bytes), ctypes.c_uint32, _ChunkFn,
                                              ctypes.c_void_p, ctypes.POINTER(_Buffer)])
    for name, (result, arguments) in signatures.items():
        function = getattr(library, name)
        function.restype = result
        function.argtypes = arguments
    _libraries[path] = library
    return library


Message = Union[Mapping[str, Any], bytes, bytearray, str]


def _encode(message: Message, what: str) -> tuple[bytes, int]:
    """A dict or JSON text goes as JSON; bytes go as protobuf binary (SerializeToString())."""
    if isinstance(message, (bytes, bytearray)):
        return bytes(message), QC_FORMAT_PROTOBUF
    if isinstance(message, str):
        return message.encode("utf-8"), QC_FORMAT_JSON
    if isinstance(message, Mapping):
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), QC_FORMAT_JSON
    raise TypeError(f"{what} must be a dict, JSON text or protobuf bytes, not {type(message).__name__}")


class Router:
    """One router: a config and its sessions. Safe to share between threads for different sessions."""

    def __init__(self, config: Union[Mapping[str, Any], str], library: Optional[str] = None):
        self._lib = load(library)
        self._handle: Optional[ctypes.c_void_p] = None
        self._freed_handle: Optional[ctypes.c_void_p] = None
        text = self._config_text(config)
        handle = ctypes.c_void_p()
        self._check(self._lib.qc_router_new(text, len(text), ctypes.byref(handle)))
        self._handle = handle

    @staticmethod
    def _config_text(config: Union[Mapping[str, Any], str]) -> bytes:
        if isinstance(config, str):
            return config.encode("utf-8")
        if isinstance(config, Mapping):
            return json.dumps(config).encode("utf-8")
        raise TypeError(f"config must be a dict or JSON text, not {type(config).__name__}")

    def _check(self, status: int) -> None:
        if status == QC_OK:
            return
        message = (self._lib.qc_last_error() or b"").decode("utf-8", "replace")
        if status == QC_ERR_INVALID_CONFIG:
            raise ConfigError(status, message)
        if status == QC_ERR_UNKNOWN_SESSION:
            raise UnknownSessionError(status, message)
        if status in (QC_ERR_UNAVAILABLE, QC_ERR_UPSTREAM):
            raise TierError(status, message)
        if status == QC_ERR_TIMEOUT:
            raise TierTimeout(status, message)
        if status == QC_ERR_CANCELLED:
            raise Cancelled(status, message)
        raise QuantClawError(status, message)

    def _live(self) -> ctypes.c_void_p:
        # A closed router's handle still goes to the library, which keeps freed handles dead rather
        # than reusing them: its QC_ERR_BAD_HANDLE and message reach the caller.
        return self._handle if self._handle is not None else (self._freed_handle or ctypes.c_void_p())

    def _call_with_message(self, function, message: Message, what: str, *extra) -> None:
        data, format_ = _encode(message, what)
        buffer = ctypes.create_string_buffer(data, len(data))
        view = _Bytes(ctypes.cast(buffer, ctypes.c_void_p), len(data))
        self._check(function(self._live(), ctypes.byref(view), format_, *extra))

    def on_step(self, step: Message) -> None:
        """Feeds a step: a dict in quantclaw.v1.Step's JSON form (only the new messages), or its bytes."""
        self._call_with_message(self._lib.qc_on_step, step, "step")

    def choose_precision(self, session_id: str) -> Decision:
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
        decision = _Decision()
        decision.struct_size = ctypes.sizeof(_Decision)
        self._call_with_message(self._lib.qc_choose_precision, {"session_id": session_id}, "request",
                                ctypes.byref(decision))
        return Decision(tier_index=decision.tier_index, tier_name=decision.tier_name.decode(),
                        prefill_tier_index=decision.prefill_tier_index, step_index=decision.step_index,
                        step_kind=decision.step_kind.decode(),
                        score=None if decision.score < 0 else decision.score,
                        threshold=None if decision.threshold < 0 else decision.threshold,
                        reason=decision.reason.decode("utf-8", "replace"), flags=decision.flags)

    def complete(self, session_id: str, body: Mapping[str, Any], on_chunk=None, *, endpoint: str = "chat",
                 hints: Optional[Mapping[str, Any]] = None) -> dict:
        """Decides the tier for a full OpenAI request and makes the call (ABI 1.1).

        With `on_chunk`, the call streams: each chat.completion.chunk arrives as a dict; returning False
        cancels. An exception in `on_chunk` cancels the call and is raised here. Returns the response
        (aggregated when streamed), with "quantclaw": {"tier", "step_index", "reason", ...} added.
        """
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
        if not isinstance(body, Mapping):
            raise TypeError(f"body must be a dict (the OpenAI request), not {type(body).__name__}")
        if not hasattr(self._lib, "qc_complete") or not getattr(self._lib.qc_complete, "argtypes", None):
            raise QuantClawError(QC_ERR_VERSION, "this libquantclaw predates qc_complete (ABI 1.1)")
        request: dict = {"session_id": session_id, "body": dict(body), "endpoint": endpoint}
        if hints:
            request["hints"] = dict(hints)
        raised: list = []

        def trampoline(_user, data, size):
            try:
                keep_going = on_chunk(json.loads(ctypes.string_at(data, size)))
                return 0 if keep_going is None or keep_going else 1
            except BaseException as error:  # nothing may unwind through C
                raised.append(error)
                return 1

        callback = _ChunkFn(trampoline) if on_chunk is not None else _ChunkFn()
        data, format_ = _encode(request, "request")
        buffer = ctypes.create_string_buffer(data, len(data))
        view = _Bytes(ctypes.cast(buffer, ctypes.c_void_p), len(data))
        out = _Buffer()
        out.struct_size = ctypes.sizeof(_Buffer)
        status = self._lib.qc_complete(self._live(), ctypes.byref(view), format_, callback, None, ctypes.byref(out))
        if raised:
            raise raised[0]
        self._check(status)
        try:
            return json.loads(ctypes.string_at(out.data, out.size))
        finally:
            self._lib.qc_buffer_free(ctypes.byref(out))

    def report_outcome(self, outcome: Message) -> None:
        self._call_with_message(self._lib.qc_report_outcome, outcome, "outcome")

    def reload(self, config: Union[Mapping[str, Any], str]) -> None:
        text = self._config_text(config)
        self._check(self._lib.qc_router_reload(self._live(), text, len(text)))

    def end_session(self, session_id: str) -> None:
        if not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
        data = session_id.encode("utf-8")
        self._check(self._lib.qc_session_end(self._live(), data, len(data)))

    def metrics(self) -> str:
        buffer = _Buffer()
        buffer.struct_size = ctypes.sizeof(_Buffer)
        self._check(self._lib.qc_metrics(self._live(), ctypes.byref(buffer)))
        try:
            return ctypes.string_at(buffer.data, buffer.size).decode("utf-8")
        finally:
            self._lib.qc_buffer_free(ctypes.byref(buffer))

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._freed_handle = handle
            self._check(self._lib.qc_router_free(handle))

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # never raise from a finaliser
            pass
