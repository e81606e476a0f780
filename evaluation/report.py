"""The Markdown report of `motion evaluate`: each figure in a table beside the paper's own."""

from __future__ import annotations

# The papers' figures the report puts beside ours.
PAPER_HGVAE_DEPTH = {1: (1986, 2.30), 2: (3912, 1.31), 4: (6511, 0.59)}  # HG-VAE Table 1: ELBO, MSE
PAPER_MAP_REDUCTION = "77 % ± 1 %"  # HG-VAE Fig. 4: MAP against mean imputation


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def _quality(figures: dict) -> list[str]:
    quality = figures["sample_quality"]
    return [f"{quality['precision']:.3f}", f"{quality['recall']:.3f}", f"{quality['f1']:.3f}"]


def drmm_lines(section: dict) -> list[str]:
    lines = [f"## DRMM ({section['model']}, {section.get('iterations')} iterations)", ""]
    if "log_likelihood" in section:
        ll = section["log_likelihood"]
        passes = next(key for key in ll if key.startswith("S="))
        lines += _table(
            ["figure", "measured", "paper"],
            [
                [f"held-out log-likelihood, one pass ({ll['vectors']:,} segments)", f"{ll['one_pass']:,.1f} nats", ""],
                [f"the same, {passes} importance passes", f"{ll[passes]:,.1f} nats", ""],
                ["precision / recall / F1, k = 3", " / ".join(_quality(section)), "Fig. 7 (F1 per model size)"],
                [
                    "real val segments against the same test segments",
                    " / ".join(f"{section['real_val_vs_test'][k]:.3f}" for k in ("precision", "recall", "f1")),
                    "",
                ],
            ],
        )
        lines.append("")
    if "depth_study" in section:
        settings = section["depth_study_settings"]
        lines += [
            f"Depth study (Fig. 7) at equal parameter count, {settings['iterations']:,} iterations each, "
            f"log-likelihood with S = {settings['passes']}:",
            "",
        ]
        body = [
            [str(layers), str(row["components"]), f"{row['parameters']:,}",
             f"{row['log_likelihood']['S=' + str(settings['passes'])]:,.1f}", *_quality(row)]
            for layers, row in section["depth_study"].items()
        ]  # fmt: skip
        lines += _table(["layers", "K", "parameters", "log-likelihood", "precision", "recall", "F1"], body)
        lines += ["", "Paper (Fig. 7): deeper models reach a higher F1 at equal size on both datasets.", ""]
    return lines


def playback_lines(section: dict) -> list[str]:
    keys = ("flags_per_minute", "facing_error_deg", "foot_skating_m_s", "bone_length_cv_percent", "jerk_m_s3",
            "floor_penetration")  # fmt: skip
    header = ["take", "flags/min", "facing error (°)", "foot skating (m/s)", "bone-length CV (%)", "jerk (m/s³)",
              "frames with a joint 2 cm under the floor"]  # fmt: skip
    body = []
    for name in ("real", "facing", "facing unspecified"):
        figures = section[name]
        label = f"real held-out clips ({figures['clips']})" if name == "real" else f"generated, {name}"
        body.append([label] + [f"{figures[key]:.3g}" if key in figures else "" for key in keys])
    return [
        f"## Playback (scripted course {section['course']}, {section['seconds']:g} s takes, seeds "
        f"{', '.join(map(str, section['seeds']))}, medians)",
        "",
        *_table(header, body),
        "",
        "Paper (DRMM App. C): the character reaches the flags; no figures are given. ![trajectory](trajectory.png)",
        "",
    ]


def hgvae_lines(section: dict) -> list[str]:
    lines = [f"## HG-VAE ({section['model']}, {section.get('epochs')} epochs)", ""]
    if "imputation" in section:
        model = section["test"]
        lines += _table(
            ["figure (test windows)", "measured", "paper"],
            [
                ["ELBO per window", f"{model['elbo']:,.0f} nats", "6,511 (depth 4, Table 1)"],
                ["reconstruction MSE", f"{model['mse_cm2']:.1f} cm²", "0.59 (Table 1)"],
                ["KL per window", f"{model['kl']:.0f} nats", ""],
                [
                    "MAP (from mean) MSE reduction over mean imputation",
                    f"{section['map_from_mean_mse_reduction']['mean']:.0%} ± "
                    f"{section['map_from_mean_mse_reduction']['sd']:.0%}",
                    PAPER_MAP_REDUCTION,
                ],
                *[[f"OoD AUROC, {rate} occluded", f"{value:.3f}", ""] for rate, value in section["ood_auroc"].items()],
            ],
        )
        lines += [
            "",
            "Imputation, MSE of the occluded entries (cm²) / MPJPE (mm); MAP: 10 Adam steps of the learning "
            "rate picked on val windows occluded alike (standard deviations of each entry):",
            "",
        ]
        methods = ("mean", "linear", "map_from_mean", "map_from_linear")
        body = [
            [name]
            + [f"{row[m]['mse_cm2']:,.2f} / {row[m]['mpjpe_mm']:,.1f}" for m in methods]
            + [" / ".join(f"{lr:g}" for lr in row["map_learning_rates"].values())]
            for name, row in section["imputation"].items()
        ]
        header = ["occluded", "mean imputation", "linear interpolation", "MAP from mean", "MAP from linear"]
        header += ["learning rates (from mean / linear)"]
        lines += _table(header, body) + ["", "![imputation](imputation.png)", ""]
    if "depth_study" in section:
        body = [
            [str(depth), f"{row['elbo']:,.0f}", f"{row['mse_cm2']:.1f}", f"{row['kl']:.0f}",
             f"{PAPER_HGVAE_DEPTH[int(depth)][0]:,}", f"{PAPER_HGVAE_DEPTH[int(depth)][1]}"]
            for depth, row in section["depth_study"].items()
        ]  # fmt: skip
        lines += ["Stochastic depth (Table 1), F = 64, small budget:", ""]
        lines += _table(["depth", "ELBO", "MSE (cm²)", "KL", "paper ELBO", "paper MSE"], body) + [""]
    return lines


def fills_lines(section: dict) -> list[str]:
    def table(figures: dict) -> list[str]:
        methods = list(figures[figures_patterns(figures)[0]]["ratio"])
        header = ["occluded", *methods, "donor / best tool fill", "model / best tool fill", "model / best classical"]
        body = []
        for pattern in figures_patterns(figures):
            row = figures[pattern]
            cells = [f"{row[m]['mse_cm2']:,.2f} / {row[m]['mpjpe_mm']:,.1f}" for m in methods]
            tool = row.get("tool ratio", {})  # figures from before the tool ratios have none
            ratios = [f"{tool[m]:.2f} ({row['best tool fill']})" if m in tool else "" for m in ("donor", "hgvae")]
            body.append([pattern, *cells, *ratios, f"{row['ratio']['hgvae']:.2f} ({row['best classical']})"])
        return _table(header, body)

    lines = ["## Gap filling on whole clips (MSE cm² / MPJPE mm)", ""]
    for name, figures, plot in (("test clips of the model's contents", section["test"], "fills.png"),
                                ("clips of contents the model never saw", section.get("unseen contents"),
                                 "fills-unseen.png")):  # fmt: skip
        if figures is None:
            continue
        fallback = figures["fallback"]
        clips = figures[figures_patterns(figures)[0]]["clips"]
        contents = f" ({', '.join(figures['contents'])})" if "contents" in figures else ""
        scores = ", ".join(f"{float(seconds):g} s {score:.3f}" for seconds, score in fallback["relative_mse"].items())
        worst = ", ".join(
            f"{float(seconds):g} s {score:.3f}" for seconds, score in fallback.get("worst_relative_mse", {}).items()
        )
        smoothing = ", ".join(
            f"{float(seconds):g} s {score:.3f}" for seconds, score in fallback.get("smooth_relative_mse", {}).items()
        )
        lines += [
            f"{clips} {name}{contents} ({figures['model']}); the model's fill is weighed against the donor fill "
            f"by a probe on each clip's mirror joints; its gaps up to {float(fallback['seconds']):g} s keep "
            f"the donor fill, the threshold fitted on {figures['val_clips']} val clips (their MSE relative to "
            f"the donor fill's, averaged over the patterns, per threshold: {scores}; of the worst pattern, "
            f"which may not exceed {1 + fallback.get('pattern_margin', 0):g}: {worst}), and so do its windows "
            f"whose start's ELBO is under {fallback['elbo_floor']:,.0f} nats, the lowest on those val clips; "
            f"its departure from the donor fill is smoothed over {fallback.get('smooth_seconds', 0):g} s "
            f"(scores per smoothing: {smoothing}):",
            "",
            *table(figures),
            "",
            f"![one filled gap per pattern]({plot})",
            "",
        ]
    return lines


def figures_patterns(figures: dict) -> list[str]:
    """The occlusion patterns of a gap-filling section, in order."""
    return [key for key, value in figures.items() if isinstance(value, dict) and "ratio" in value]


def markdown(report: dict) -> str:
    """The report as Markdown: one section per evaluated part, the plots linked beside it."""
    lines = [f"# Evaluation on {report['data']}", "", f"{report['seconds'] / 60:.1f} min on {report['device']}.", ""]
    if "drmm" in report:
        lines += drmm_lines(report["drmm"])
    if "playback" in report:
        lines += playback_lines(report["playback"])
    if "hgvae" in report:
        lines += hgvae_lines(report["hgvae"])
    if "fills" in report:
        lines += fills_lines(report["fills"])
    if "learning_curves" in report:
        lines += ["## Learning curves", "", "![learning curves](learning-curves.png)", ""]
    return "\n".join(lines)
