"""Training with PyTorch Lightning: random crops of cached features, the three classic callbacks.

Adam/AdamW, early stopping on validation loss, the best checkpoint kept, the learning rate
reduced on plateau; normalisation fitted on training tracks only; a seed for reproducibility;
CSV metrics per epoch (TensorBoard too when installed); resumable from the last checkpoint.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from genrenet.patches import Normalizer, normalizer_for, random_crop, sliding_windows
from genrenet.training.checkpoints import AtomicCheckpointIO, LastEveryEpoch, resume_from
from genrenet.training.config import TrainConfig
from genrenet.training.history import best_epoch, load_history, merge_history


class CropDataset(Dataset):
    """``crops_per_track`` random crops of every training track; new crops every epoch.

    ``variants[i]`` lists augmented versions of track ``i`` (pitch-shifted, stretched, noisy);
    each crop is then taken from the original or one of its versions at random, so an epoch
    stays the same size with or without augmentation.
    """

    def __init__(
        self, matrices, labels, patch_frames, crops_per_track, normalizer, seed, variants=None
    ) -> None:
        self.versions = [[m, *(variants[i] if variants else [])] for i, m in enumerate(matrices)]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.patch_frames = patch_frames
        self.crops_per_track = crops_per_track
        self.normalizer = normalizer
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.versions) * self.crops_per_track

    def __getitem__(self, i: int):
        track = i % len(self.versions)
        rng = np.random.default_rng((self.seed, self.epoch, i))
        versions = self.versions[track]
        source = versions[int(rng.integers(len(versions)))] if len(versions) > 1 else versions[0]
        crop = random_crop(source, self.patch_frames, rng)
        return torch.from_numpy(self.normalizer(crop)[None]), int(self.labels[track])


class WindowDataset(Dataset):
    """Every window (at ``hop_frames``) of every track, with its track number: for evaluation."""

    def __init__(self, matrices, labels, patch_frames, hop_frames, normalizer) -> None:
        self.items: list[tuple[int, np.ndarray]] = []
        for track, m in enumerate(matrices):
            for window in sliding_windows(m, patch_frames, hop_frames):
                self.items.append((track, window))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.normalizer = normalizer

    def __len__(self) -> int:
        return len(self.items)

    @property
    def track_index(self) -> np.ndarray:
        """Track number of each window."""
        return np.array([t for t, _ in self.items], dtype=np.int64)

    def __getitem__(self, i: int):
        track, window = self.items[i]
        return torch.from_numpy(self.normalizer(window)[None]), int(self.labels[track])


class GenreModule(L.LightningModule):
    """Loss, accuracy and optimiser around a plain ``nn.Module`` genre classifier."""

    def __init__(
        self, model: nn.Module, config: TrainConfig, n_classes: int, class_weights=None
    ) -> None:
        from genrenet.augment import AugmentConfig

        super().__init__()
        self.model = model
        self.config = config
        self.n_classes = n_classes
        self.augment = AugmentConfig.from_dict(config.augment)
        self._augment_rng = torch.Generator().manual_seed(config.seed + 1)
        weight = (
            None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        )
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _augment_batch(self, x: torch.Tensor, y: torch.Tensor):
        """SpecAugment masks and mixup, on training batches only (inputs are normalised)."""
        from genrenet.augment import mixup, spec_augment

        target = y
        if self.augment.specaugment:
            x = spec_augment(x, self._augment_rng, self.augment)
        if self.augment.mixup:
            x, target = mixup(x, y, self.n_classes, self.augment.mixup_alpha, self._augment_rng)
        return x, target

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        target = y
        if stage == "train":
            x, target = self._augment_batch(x, y)
        logits = self.model(x)
        loss = self.loss_fn(logits, target)
        acc = (logits.argmax(dim=1) == y).float().mean()
        on_step = stage == "train"
        self.log(
            f"{stage}_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=not on_step,
            batch_size=len(y),
            sync_dist=True,  # averaged over DDP processes (a no-op in one process)
        )
        self.log(
            f"{stage}_acc",
            acc,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(y),
            sync_dist=True,
        )
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        if isinstance(dataset, CropDataset):
            dataset.epoch = self.current_epoch

    def configure_optimizers(self):
        cfg = self.config
        opt_class = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = opt_class(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss", "interval": "epoch"},
        }


@dataclass
class TrainResult:
    """The trained network (best validation checkpoint), its normaliser and the epoch history."""

    model: nn.Module
    normalizer: Normalizer
    history: list[dict[str, float]]
    best_epoch: int | None
    epochs_run: int
    stopped_by: str = "max_epochs"
    """Why training ended: ``max_epochs``, ``early_stopping``, ``max_minutes`` (cut short by
    the time limit), ``interrupted``, or ``head_fit`` (a head fitted without epochs)."""
    device: str = "cpu"
    """Where the steps ran (``cuda:0``, ``cpu``, ...); :attr:`model` itself is back on the CPU."""


class _NoAdverts(logging.Filter):
    """Drops Lightning's tip advertising its cloud logger: not something our users asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _silence_adverts() -> None:
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in logger.filters):
        logger.addFilter(_NoAdverts())


def launched_externally() -> bool:
    """True when torchrun (torchelastic) or SLURM started this process as one rank of many."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return TorchElasticEnvironment.detect() or (
        SLURMEnvironment.detect() and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    )


def lightning_strategy(config: TrainConfig) -> str:
    """Lightning's strategy for the config: one process; ``ddp`` where torchrun or SLURM
    started the ranks; else ``ddp_fork`` (the workers start inside ``fit`` from this process,
    after the features are loaded, and rank 0's weights come back to it; gloo on CPU)."""
    if config.strategy != "ddp" or config.devices * config.num_nodes == 1:
        return "auto"
    if launched_externally():
        return "ddp"
    if config.num_nodes > 1:
        raise ValueError("--num-nodes above 1 needs a launcher: torchrun or SLURM's srun")
    return "ddp_fork"


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights inversely proportional to class frequency (mean 1), for unbalanced data."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return weights.astype(np.float32)


def fit_model(
    model: nn.Module,
    train: tuple[list[np.ndarray], np.ndarray],
    valid: tuple[list[np.ndarray], np.ndarray],
    patch_frames: int,
    config: TrainConfig,
    out_dir: Path,
    resume: bool = False,
    progress: bool = True,
    n_classes: int | None = None,
    train_variants: list[list[np.ndarray]] | None = None,
) -> TrainResult:
    """Train ``model`` on random crops of the training matrices, validating on windows.

    ``train_variants[i]`` are augmented versions of training track ``i`` (never of validation
    tracks); the normaliser is fitted on the original training tracks only. Checkpoints,
    ``metrics.csv`` and (when installed) TensorBoard logs go under ``out_dir``.
    """
    from genrenet.devices import check_accelerator

    check_accelerator(config.accelerator)  # a missing GPU: one clear error, not Lightning's
    L.seed_everything(config.seed, workers=True, verbose=False)
    out_dir = Path(out_dir)
    train_m, train_y = train
    valid_m, valid_y = valid
    normalizer = normalizer_for(model, train_m)
    if n_classes is None:
        n_classes = int(max(train_y.max(), valid_y.max() if len(valid_y) else 0)) + 1
    weights = balanced_class_weights(train_y, n_classes) if config.class_weights else None
    module = GenreModule(model, config, n_classes, weights)
    train_ds = CropDataset(
        train_m,
        train_y,
        patch_frames,
        config.crops_per_track,
        normalizer,
        config.seed,
        variants=train_variants,
    )
    valid_ds = WindowDataset(valid_m, valid_y, patch_frames, patch_frames, normalizer)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        train_ds,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        drop_last=len(train_ds) > config.batch_size,
    )
    valid_loader = DataLoader(valid_ds, batch_size=max(64, config.batch_size))
    ckpt_dir = out_dir / "checkpoints"
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=ckpt_dir, filename="best", monitor="val_loss", mode="min"
    )
    callbacks = [
        checkpoint,
        LastEveryEpoch(ckpt_dir),
        L.pytorch.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=config.patience),
        L.pytorch.callbacks.LearningRateMonitor(logging_interval="epoch"),
    ]
    loggers = [L.pytorch.loggers.CSVLogger(out_dir, name="logs", version="")]
    try:
        import tensorboard  # noqa: F401

        loggers.append(L.pytorch.loggers.TensorBoardLogger(out_dir, name="logs", version=""))
    except ImportError:
        pass
    _silence_adverts()
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        max_time=None if config.max_minutes is None else {"minutes": config.max_minutes},
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=lightning_strategy(config),
        callbacks=callbacks,
        logger=loggers,
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=1,
        deterministic="warn",
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )
    last = resume_from(ckpt_dir) if resume else None
    metrics_csv = out_dir / "logs" / "metrics.csv"
    resuming = last is not None
    earlier_rows = load_history(metrics_csv) if resuming and metrics_csv.exists() else []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*deterministic.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        trainer.fit(
            module,
            train_loader,
            valid_loader,
            ckpt_path=str(last) if resuming else None,
        )
    if trainer.global_rank > 0:
        # A rank started by torchrun or SLURM runs the whole command: only rank 0 goes on to
        # evaluate and write the run; the others end here once training has finished.
        raise SystemExit(0)
    best_path = checkpoint.best_model_path
    if best_path:
        state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(
            {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        )
    model.cpu().eval()  # Lightning's teardown moves it back; made sure of for every strategy
    if earlier_rows:
        _prepend_rows(metrics_csv, earlier_rows)
    history = merge_history(load_history(metrics_csv)) if metrics_csv.exists() else []
    epochs = trainer.current_epoch  # 0 in the parent of forked DDP workers: count the history
    if not epochs:
        logged = [float(row["epoch"]) for row in history if row.get("epoch") not in (None, "")]
        epochs = 1 + int(max(logged, default=-1))
    return TrainResult(
        model,
        normalizer,
        history,
        best_epoch(history) if history else None,
        epochs,
        stop_reason(trainer, config),
        str(trainer.strategy.root_device),
    )


def stop_reason(trainer: L.Trainer, config: TrainConfig) -> str:
    """Why ``trainer.fit`` returned: the epoch count, early stopping, the time limit, or an
    interruption (Ctrl-C)."""
    from lightning.pytorch.callbacks import Timer

    if trainer.interrupted:
        return "interrupted"
    early = trainer.early_stopping_callback
    if early is not None and early.stopped_epoch > 0:
        return "early_stopping"
    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]
    if config.max_minutes is not None and trainer.current_epoch < config.max_epochs:
        remaining = [t.time_remaining() for t in timers]
        if any(r is not None and r <= 0 for r in remaining):
            return "max_minutes"
    return "max_epochs"


def _prepend_rows(metrics_csv: Path, earlier: list[dict[str, str]]) -> None:
    """Put back the epochs logged before a resume (Lightning's CSV logger starts a new file)."""
    current = load_history(metrics_csv) if metrics_csv.exists() else []
    first_new = min((float(r["epoch"]) for r in current if r.get("epoch")), default=math.inf)
    kept = [r for r in earlier if r.get("epoch") and float(r["epoch"]) < first_new]
    rows = kept + current
    fields = list(dict.fromkeys(key for row in rows for key in row))
    tmp = metrics_csv.with_name(f".{metrics_csv.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, metrics_csv)
