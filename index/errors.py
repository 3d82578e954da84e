"""Error types of the engine, caught at the edges and shown to a person as one line."""


class NewsbotError(Exception):
    """Base of every error newsbot means to show to a person as one clear line."""


class SourceError(NewsbotError):
    """An input file or URL that cannot be read as articles at all."""


class IngestError(NewsbotError):
    """Ingest could not proceed (store unwritable, encoder missing, ...)."""


class BackendUnavailable(NewsbotError):
    """The retrieval backend (for example a Milvus server) cannot be reached."""


class OnnxUnavailable(NewsbotError):
    """Why the model's ONNX copy cannot serve (the torch path does instead, after one
    warning line saying this)."""
