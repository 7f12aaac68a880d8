"""t-SNE views of clean, label-flipped and feature-randomised data."""

from __future__ import annotations

from ..registry import Experiment


KEYS = ("attacks", "alpha", "seed", "perplexity")  # its data set and data options are the alpha sweep's


class Embed(Experiment):
    name = "embed"
    title = "t-SNE of clean and poisoned data"
    section = "embed"
    runner = "qunlearn.experiments.embedding"
    kind = "embed"

    def parse(self, raw, typed, where, dataset):
        from ..config import EmbedConfig
        from ..errors import InputError
        from ..study import typed_config

        if isinstance(raw, dict) and set(raw) - set(KEYS):
            key = sorted(set(raw) - set(KEYS))[0]
            raise InputError(f"unknown config key {where}.{key!r}; known keys there: {', '.join(sorted(KEYS))}",
                             path=f"{where}.{key}")
        return typed_config(EmbedConfig, raw, where, dataset=dataset, data_options=typed["poison"].data_options)

    def dump(self, value):
        embed = value.to_dict()
        return {k: embed[k] for k in KEYS}

    def setup_line(self, dataset, dirname, cfg):
        return f"{dataset}/{dirname}: t-SNE, alpha {cfg.get('alpha')}, perplexity {cfg.get('perplexity')}"

    def report(self, doc, dataset, dirname, part, run) -> None:
        if part["embedding"] is None:
            return
        doc.h(2, f"{dataset.upper()}: {dirname}")
        doc.image(part["dir"] / "embedding.png", "t-SNE of clean and poisoned data")


EXPERIMENT = Embed()
