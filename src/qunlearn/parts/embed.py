"""t-SNE views of clean, label-flipped and feature-randomised data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .. import commands as cmd
from ..commands import Common
from ..registry import Experiment


KEYS = ("attacks", "alpha", "seed", "perplexity")  # its data set and data options are the alpha sweep's


# ----------------------------------------------------------------- its command


def embed_command(
    dataset: str = cmd.DATASET,
    attack: Optional[str] = cmd.option(None, help="comma list of attacks [label-flip,feature-randomization]"),
    alpha: Optional[str] = cmd.option(None, help="noise ratio [0.3]"),
    out_dir: str = cmd.option("runs/embed", "--out", help="run directory"),
    seed: Optional[int] = cmd.option(None, help="seed of the poisoning and of t-SNE [0]"),
    perplexity: Optional[float] = cmd.option(None, help="t-SNE perplexity [30]"),
    mnist_path: Optional[Path] = cmd.MNIST_PATH,
    xxz_phase: Optional[str] = cmd.XXZ_PHASE,
    fresh: bool = cmd.FRESH,
):
    """t-SNE of clean, label-flipped and feature-randomised data, side by side."""
    from ..errors import check_alpha
    from ..parsing import parse_list
    from ..vocab import ATTACKS

    common = Common("paper", mnist_path=mnist_path, xxz_phase=xxz_phase, fresh=fresh)
    cmd.run("embed", common, dataset, out_dir, title=f"t-SNE of {dataset.upper()}",
            attacks=None if attack is None else parse_list(attack, ATTACKS, "attack", "--attack"),
            alpha=None if alpha is None else check_alpha(alpha), seed=seed, perplexity=perplexity)


class Embed(Experiment):
    name = "embed"
    title = "t-SNE of clean and poisoned data"
    section = "embed"
    runner = "qunlearn.experiments.embedding"
    kind = "embed"
    commands = {"embed": embed_command}

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
