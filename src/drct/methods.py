"""Training methods: which image groups a run trains on and whether the contrastive term is on.

A method is the *data composition and loss* half of a run (the network half is the backbone or
detector entry, :mod:`drct.detectors`). ``drct`` and ``baseline`` are the paper's two; the other
entries are the rows of the paper's component ablation (Conv-B on DRCT-2M SDv1.4, tested on
GenImage), which adds real reconstructions, fakes, fake reconstructions and finally the
contrastive term, one at a time. All of them label ``real`` 0 and every other group 1.

Pure Python: read by the Snakefile at parse time (planning) and by training.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "METHODS", "COMPONENT_ROWS", "CONTRASTIVE_WEIGHT", "GROUPS", "method"]

#: weight of the contrastive term, the authors' ``--alpha`` default: loss (1 - 0.3) CE + 0.3 L_con
CONTRASTIVE_WEIGHT = 0.3

#: every training group, in the order a dataset lists them
GROUPS = ("real", "real_rec", "fake", "fake_rec")


@dataclass(frozen=True)
class Method:
    """One way of training a network: its groups and its loss."""

    name: str
    groups: tuple[str, ...]
    #: CE + contrastive (``ce_weight``/``con_weight`` of the settings) or cross-entropy alone
    contrastive: bool
    summary: str

    @property
    def uses_reconstructions(self) -> bool:
        return "real_rec" in self.groups or "fake_rec" in self.groups


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("drct", GROUPS, True, "DRCT: CE + contrastive on real, real-rec, fake and fake-rec"),
        Method("baseline", ("real", "fake"), False, "the plain detector: CE on real vs fake"),
        # the component ablation, one addition per row (the last row is drct itself)
        Method("ce-real-rec", ("real", "real_rec"), False, "ablation: CE on real vs real-rec"),
        Method("ce-real-rec-fake", ("real", "real_rec", "fake"), False, "ablation: CE on real vs real-rec + fake"),
        Method("ce-all", GROUPS, False, "ablation: CE on real vs real-rec + fake + fake-rec (no contrastive term)"),
    )
}

#: the component ablation's rows, in the paper's order: each adds one component to the one before
COMPONENT_ROWS: tuple[str, ...] = ("ce-real-rec", "ce-real-rec-fake", "ce-all", "drct")


def method(name: str) -> Method:
    """The entry named ``name``, or a ValueError that lists the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown training method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]
