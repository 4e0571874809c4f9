"""``POST /v1/predict`` (genres) and ``POST /v1/tag`` (musicnn tags) of one uploaded file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from genrenet.audio import probe
from genrenet.errors import AudioError
from genrenet.inference.predictor import WindowedPredictor
from genrenet.serve.deps import get_gate, get_models, upload_file
from genrenet.serve.errors import ApiError, audio_error
from genrenet.serve.gate import InferenceGate
from genrenet.serve.models import LoadedModels
from genrenet.serve.schemas import ERRORS, ModelRef, PredictionOut
from genrenet.serve.uploads import Upload

router = APIRouter(tags=["inference"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "audio/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The upload, for the OpenAPI page (the body is streamed by :func:`upload_file`, not parsed
by FastAPI)."""

TopK = Query(None, ge=1, le=50, description="How many labels to give (default 3 genres, 10 tags).")
Timeline = Query(False, description="Also give the labels of each window.")
Hop = Query(None, gt=0, description="Seconds between windows (default: one window, no overlap).")


async def _run(
    request: Request,
    gate: InferenceGate,
    predictor: WindowedPredictor,
    upload: Upload,
    model: ModelRef,
    top_k: int | None,
    timeline: bool,
    hop: float | None,
) -> PredictionOut:
    """Predict on a worker thread through the gate; a file that is not usable audio is a 422."""

    def work():
        pred = predictor.predict_file(upload.path, top_k=top_k, hop_seconds=hop, timeline=timeline)
        if pred.error is not None:
            return pred, 0.0
        try:
            duration = probe(upload.path).duration
        except AudioError:
            duration = 0.0
        return pred, duration

    pred, duration = await gate.run(work)
    if pred.error is not None:
        raise audio_error(upload.name, pred.error.replace(str(upload.path), upload.name))
    if not pred.top:
        raise ApiError(422, "undecodable", f"{upload.name}: no window could be scored")
    request.state.top = pred.top[0]["label"]
    return PredictionOut(
        file=upload.name, top=pred.top, timeline=pred.timeline, duration=duration, model=model
    )


@router.post(
    "/predict",
    response_model=PredictionOut,
    response_model_exclude_none=True,
    responses=ERRORS,
    openapi_extra=UPLOAD_BODY,
)
async def predict(
    request: Request,
    models: LoadedModels = Depends(get_models),
    gate: InferenceGate = Depends(get_gate),
    top_k: int | None = TopK,
    timeline: bool = Timeline,
    hop: float | None = Hop,
    upload: Upload = Depends(upload_file),
) -> PredictionOut:
    """Genres of an uploaded song of any length and format genrenet reads (multipart ``file``
    part, or the raw file with its content type): windows over the whole song, averaged."""
    model = ModelRef(name=models.name, kind="genres")
    return await _run(request, gate, models.classifier, upload, model, top_k, timeline, hop)


@router.post(
    "/tag",
    response_model=PredictionOut,
    response_model_exclude_none=True,
    responses={**ERRORS, 404: ERRORS[422] | {"description": "The server runs without a tagger"}},
    openapi_extra=UPLOAD_BODY,
)
async def tag(
    request: Request,
    models: LoadedModels = Depends(get_models),
    gate: InferenceGate = Depends(get_gate),
    top_k: int | None = TopK,
    timeline: bool = Timeline,
    hop: float | None = Hop,
    upload: Upload = Depends(upload_file),
) -> PredictionOut:
    """musicnn tags of an uploaded song (MSD or MagnaTagATune tags, 3 s patches averaged)."""
    if models.tagger is None:
        raise ApiError(404, "no_tagger", "this server runs without a tagger (--tagger none)")
    model = ModelRef(name=models.tagger.model_name, kind="tags")
    return await _run(request, gate, models.tagger, upload, model, top_k, timeline, hop)
