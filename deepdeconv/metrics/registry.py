"""Metrics by name: which formula, which feature network, which direction is better."""
import dataclasses

from deepdeconv.errors import UserError

INCEPTION, KERAS, CLASSIFIER = "inception", "keras", "classifier"


@dataclasses.dataclass(frozen=True)
class Metric:
    """One registered metric.

    Attributes:
        name: what users type (`--metrics fid,is`).
        kind: the formula: "fid", "is", "kid" or "pr".
        network: feature network: "inception" (2015-12-05 graph, comparable with papers),
            "keras" (Keras InceptionV3, not comparable) or "classifier" (trained on the data).
        description: one line for `--help`.
    """

    name: str
    kind: str
    network: str
    description: str

    @property
    def higher_is_better(self):
        """IS and precision/recall grow with quality; FID and KID shrink."""
        return self.kind in ("is", "pr")

    @property
    def needs_real(self):
        """Whether the metric compares against real data (IS does not)."""
        return self.kind != "is"


def _family(prefix, suffix, network, what):
    return {
        f"{prefix}fid{suffix}": Metric(f"{prefix}fid{suffix}", "fid", network, f"Fréchet distance, {what}"),
        f"{prefix}is{suffix}": Metric(f"{prefix}is{suffix}", "is", network, f"Inception Score (10 splits), {what}"),
        f"{prefix}kid{suffix}": Metric(f"{prefix}kid{suffix}", "kid", network,
                                       f"Kernel Inception Distance (100 subsets of 1000), {what}"),
        f"{prefix}pr{suffix}": Metric(f"{prefix}pr{suffix}", "pr", network,
                                      f"precision and recall (k = 3; value = their F1), {what}"),
    }


METRICS = {
    **_family("", "", INCEPTION, "2015-12-05 Inception graph (comparable with papers)"),
    **_family("", "_keras", KERAS, "Keras InceptionV3 (NOT comparable with papers)"),
    **_family("c", "", CLASSIFIER, "classifier trained on the real data (offline)"),
}


def parse_metrics(text, option="--metrics"):
    """Parses "fid,is" into Metric objects, in order, without duplicates.

    Raises:
        UserError: empty list or an unknown name.
    """
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if not names:
        raise UserError(f"{option} needs at least one metric name, e.g. fid or cfid.")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise UserError(f"{option}: unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}.")
    return [METRICS[n] for n in dict.fromkeys(names)]


def with_network(metrics, network):
    """The same metrics computed with another network family (`--network keras` etc.)."""
    prefix, suffix = {INCEPTION: ("", ""), KERAS: ("", "_keras"), CLASSIFIER: ("c", "")}[network]
    return [METRICS[f"{prefix}{m.kind}{suffix}"] for m in metrics]
