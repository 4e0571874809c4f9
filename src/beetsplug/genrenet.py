"""beets plugin: genres from genrenet's models, on demand (``beet genrenet [QUERY]``) or on import.

Enable it in beets' ``config.yaml``::

    plugins: genrenet
    genrenet:
        model: gtzan-musicnn   # a bundled model's name, or a model folder
        min_score: 0.5         # labels scoring less are not written
        top_k: 1               # up to this many genres per item
        separator: ", "        # joins several genres in a single-valued field
        mode: fill             # fill (empty genres only), replace or append
        auto: no               # yes: classify items as they are imported

Each classified item gets the flexible attributes ``genrenet_genre`` (the labels, joined),
``genrenet_score`` (the best label's score) and ``genrenet_model``; its genre (``genres`` in
beets 2.x, ``genre`` before) is set by ``mode``. ``beet genrenet --write`` also writes the tags
into the files (beets' ``item.try_write``); ``--force`` replaces genres even in fill mode.
"""

from __future__ import annotations

from functools import cached_property

from beets import ui
from beets.dbcore import types
from beets.library import Item
from beets.plugins import BeetsPlugin
from beets.util import displayable_path, syspath

__all__ = ["GenrenetPlugin"]


class GenrenetPlugin(BeetsPlugin):
    """Sets items' genres from a genrenet classifier (the model is loaded once, when needed)."""

    item_types = {  # noqa: RUF012 - beets reads this class attribute
        "genrenet_genre": types.STRING,
        "genrenet_score": types.FLOAT,
        "genrenet_model": types.STRING,
    }

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "model": "gtzan-musicnn",
                "min_score": 0.5,
                "top_k": 1,
                "separator": ", ",
                "mode": "fill",
                "auto": False,
                "workers": 2,
            }
        )
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]

    @cached_property
    def classifier(self):
        """The configured model, loaded on first use."""
        from genrenet.classifier import Classifier
        from genrenet.errors import GenrenetError

        name = self.config["model"].as_str()
        try:
            return Classifier.load(name)
        except GenrenetError as err:
            raise ui.UserError(f"genrenet: cannot load model {name!r}: {err}") from None

    def options(self, force: bool = False):
        """The plugin's configuration as genrenet's retag options (``force``: replace mode)."""
        from genrenet.library.retag import RetagOptions

        mode = self.config["mode"].as_choice(["fill", "replace", "append"])
        if force and mode == "fill":
            mode = "replace"
        try:
            return RetagOptions(
                top_k=self.config["top_k"].get(int),
                min_score=self.config["min_score"].as_number(),
                mode=mode,
            )
        except ValueError as err:
            raise ui.UserError(f"genrenet: {err}") from None

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("genrenet", help="set genres with a genrenet model")
        command.parser.add_option(
            "-w", "--write", action="store_true", help="also write the tags into the files"
        )
        command.parser.add_option(
            "-f", "--force", action="store_true", help="replace genres even in fill mode"
        )

        def run(lib, opts, args) -> None:
            items = list(lib.items(args))
            if not items:
                self._log.info("no items match")
                return
            self.classify(items, write=opts.write, force=opts.force)

        command.func = run
        return [command]

    def imported(self, session, task) -> None:
        """Import stage: classify the imported items (the importer writes files if configured)."""
        self.classify(list(task.imported_items()), write=False, force=False)

    def classify(self, items: list[Item], write: bool, force: bool) -> dict[str, int]:
        """Predict each item's genres, set its fields, store it (and write its file)."""
        from genrenet.library.retag import propose

        options = self.options(force)
        separator = self.config["separator"].as_str()
        model = self.config["model"].as_str()
        counts = {"set": 0, "left": 0, "failed": 0}
        paths = [syspath(item.path) for item in items]
        predictions = self.classifier.predict_files(
            paths, top_k=options.top_k, workers=self.config["workers"].get(int)
        )
        for item, prediction in zip(items, predictions, strict=True):
            if prediction.error is not None:
                self._log.warning("{}: {}", displayable_path(item.path), prediction.error)
                counts["failed"] += 1
                continue
            labels = [
                str(t["label"])
                for t in prediction.top[: options.top_k]
                if t["score"] >= options.min_score
            ]
            item["genrenet_genre"] = separator.join(labels)
            item["genrenet_score"] = float(prediction.top[0]["score"])
            item["genrenet_model"] = model
            current = _genres(item, separator)
            values, _, reason, detail = propose(current, prediction.top, options)
            if reason is None:
                _set_genres(item, values, separator)
                counts["set"] += 1
                self._log.info("{}: {}", displayable_path(item.path), separator.join(values))
            else:
                counts["left"] += 1
                self._log.info(
                    "{}: left alone, {}{}", displayable_path(item.path), reason, _paren(detail)
                )
            item.store()
            if write:
                item.try_write()
        self._log.info(
            "{} items: {} set, {} left alone, {} failed",
            len(items),
            counts["set"],
            counts["left"],
            counts["failed"],
        )
        return counts


def _paren(text: str | None) -> str:
    return f" ({text})" if text else ""


def _multi_valued() -> bool:
    """beets 2.x keeps a list of genres (``genres``); older releases one string (``genre``)."""
    return "genres" in Item._fields


def _genres(item: Item, separator: str) -> list[str] | None:
    if _multi_valued():
        return list(item.get("genres") or []) or None
    value = item.get("genre") or ""
    return [v for v in value.split(separator) if v] or None


def _set_genres(item: Item, values: list[str], separator: str) -> None:
    if _multi_valued():
        item["genres"] = list(values)
    else:
        item["genre"] = separator.join(values)
