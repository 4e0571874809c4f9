"""``GET /v1/models``: the loaded models, their labels, rate, window and training."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from genrenet.serve.deps import get_models, get_settings
from genrenet.serve.models import LoadedModels
from genrenet.serve.schemas import ERRORS, ModelInfo, ModelsOut
from genrenet.serve.settings import ServeSettings

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelsOut, responses={k: ERRORS[k] for k in (401, 503)})
def list_models(
    models: LoadedModels = Depends(get_models),
    settings: ServeSettings = Depends(get_settings),
) -> ModelsOut:
    """The genre model and the tagger this server holds."""
    infos = [models.classifier_info(), models.tagger_info()]
    return ModelsOut(
        models=[ModelInfo(**info) for info in infos if info is not None],
        max_upload_mb=settings.max_upload_mb,
        token_required=settings.token_file is not None,
    )
