"""Paper outputs: the paper's tables with its rows beside ours, figures, robustness and format control.

Reads only evaluation outputs (metrics.json, roc.csv, pr.csv, perturbed metrics, copied samples),
so it needs no GPU, no torch and no raw data: after `dvc pull` of the evaluation outputs, these
rules alone regenerate every table and figure. Outputs flagged `report()` make up
`snakemake --report report.html`, with captions from workflow/report/: figures as PNG and tables
as HTML pages (the report shows HTML in the page but a CSV only as a download link).
"""


rule tables:
    """One protocol's tables (Markdown, CSV, LaTeX) and figures (PNG, PDF), ours beside the paper's."""
    input:
        unpack(paper_inputs),
    output:
        markdown=f"{OUT}/paper/{{protocol}}/table.md",
        csv=f"{OUT}/paper/{{protocol}}/table.csv",
        latex=f"{OUT}/paper/{{protocol}}/table.tex",
        html=paper_report(f"{OUT}/paper/{{protocol}}/table.html", "table", "1. Tables"),
        comparison_md=f"{OUT}/paper/{{protocol}}/comparison.md",
        comparison=f"{OUT}/paper/{{protocol}}/comparison.csv",
        comparison_tex=f"{OUT}/paper/{{protocol}}/comparison.tex",
        comparison_html=paper_report(
            f"{OUT}/paper/{{protocol}}/comparison.html", "comparison", "1. Tables"
        ),
        detail_md=f"{OUT}/paper/{{protocol}}/metrics.md",
        detail=f"{OUT}/paper/{{protocol}}/metrics.csv",
        detail_html=paper_report(
            f"{OUT}/paper/{{protocol}}/metrics.html", "metrics", "1. Tables"
        ),
        figure=paper_report(
            f"{OUT}/paper/{{protocol}}/table_accuracy.png", "accuracy", "2. Figures"
        ),
        figure_pdf=f"{OUT}/paper/{{protocol}}/table_accuracy.pdf",
        heatmap=paper_report(
            f"{OUT}/paper/{{protocol}}/heatmap.png", "heatmap", "2. Figures"
        ),
        heatmap_pdf=f"{OUT}/paper/{{protocol}}/heatmap.pdf",
        difference=paper_report(
            f"{OUT}/paper/{{protocol}}/difference.png", "difference", "2. Figures"
        ),
        difference_pdf=f"{OUT}/paper/{{protocol}}/difference.pdf",
        roc=paper_report(f"{OUT}/paper/{{protocol}}/roc.png", "roc", "2. Figures"),
        roc_pdf=f"{OUT}/paper/{{protocol}}/roc.pdf",
        pr=paper_report(f"{OUT}/paper/{{protocol}}/pr.png", "pr", "2. Figures"),
        pr_pdf=f"{OUT}/paper/{{protocol}}/pr.pdf",
    log:
        f"logs/{EXPERIMENT}/tables/{{protocol}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/tables/{{protocol}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("tables")
    resources:
        **rule_resources("tables"),
    params:
        spec=lambda wc: as_json(paper_spec(wc)),
        out_dir=lambda wc: f"{OUT}/paper/{wc.protocol}",
    shell:
        "drct tables --spec {params.spec:q} --metrics {input.metrics:q} --roc {input.roc:q} "
        "--pr {input.pr:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule robustness:
    """Accuracy against JPEG quality, resize scale and blur per method: table and line plot."""
    input:
        unpack(study_inputs),
    output:
        markdown=f"{OUT}/paper/{{protocol}}/robustness.md",
        csv=f"{OUT}/paper/{{protocol}}/robustness.csv",
        latex=f"{OUT}/paper/{{protocol}}/robustness.tex",
        html=paper_report(
            f"{OUT}/paper/{{protocol}}/robustness.html", "robustness", "3. Robustness"
        ),
        figure=paper_report(
            f"{OUT}/paper/{{protocol}}/robustness.png",
            "robustness",
            "3. Robustness",
            label="robustness curves",
        ),
        figure_pdf=f"{OUT}/paper/{{protocol}}/robustness.pdf",
    log:
        f"logs/{EXPERIMENT}/robustness/{{protocol}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/robustness/{{protocol}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("robustness")
    resources:
        **rule_resources("robustness"),
    params:
        spec=lambda wc: as_json(study_spec(wc)),
        only=study_perturbations("robustness"),
        out_dir=lambda wc: f"{OUT}/paper/{wc.protocol}",
    shell:
        "drct robustness --spec {params.spec:q} --only {params.only:q} "
        "--perturbed {input.perturbed:q} --metrics {input.metrics:q} --out-dir {params.out_dir:q} "
        "> {log:q} 2>&1"


rule format_bias:
    """The evaluation with every test image re-encoded (PNG, JPEG) beside the raw files."""
    input:
        unpack(study_inputs),
    output:
        markdown=f"{OUT}/paper/{{protocol}}/format_bias.md",
        csv=f"{OUT}/paper/{{protocol}}/format_bias.csv",
        latex=f"{OUT}/paper/{{protocol}}/format_bias.tex",
        html=paper_report(
            f"{OUT}/paper/{{protocol}}/format_bias.html",
            "format_bias",
            "4. Format bias",
        ),
        figure=paper_report(
            f"{OUT}/paper/{{protocol}}/format_bias.png",
            "format_bias",
            "4. Format bias",
            label="format bias bars",
        ),
        figure_pdf=f"{OUT}/paper/{{protocol}}/format_bias.pdf",
    log:
        f"logs/{EXPERIMENT}/format_bias/{{protocol}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/format_bias/{{protocol}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("format_bias")
    resources:
        **rule_resources("format_bias"),
    params:
        spec=lambda wc: as_json(study_spec(wc)),
        only=study_perturbations("format"),
        out_dir=lambda wc: f"{OUT}/paper/{wc.protocol}",
    shell:
        "drct format-bias --spec {params.spec:q} --only {params.only:q} "
        "--perturbed {input.perturbed:q} --metrics {input.metrics:q} --out-dir {params.out_dir:q} "
        "> {log:q} 2>&1"


rule sample_grid:
    """Real / real-rec / fake / fake-rec images of a train set, like the paper's framework figure."""
    input:
        samples=rules.samples.output.samples,
    output:
        png=report(
            f"{OUT}/paper/samples/{{train_set}}.png",
            caption=f"{REPORT_CAPTIONS}/samples.rst",
            category="5. Samples",
            subcategory="{train_set}",
            labels={"train set": "{train_set}", "output": "sample grid"},
        ),
        pdf=f"{OUT}/paper/samples/{{train_set}}.pdf",
    log:
        f"logs/{EXPERIMENT}/sample_grid/{{train_set}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/sample_grid/{{train_set}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("sample_grid")
    resources:
        **rule_resources("sample_grid"),
    params:
        title=lambda wc: f"Train set {wc.train_set}: images and their diffusion reconstructions"
        + (" (demo: random-weight reconstruction model)" if config["demo"] else ""),
    shell:
        "drct sample-grid --samples {input.samples:q} --title {params.title:q} "
        "--out-png {output.png:q} --out-pdf {output.pdf:q} > {log:q} 2>&1"


rule ablation_components:
    """The component ablation: a row per added component (real-rec, fake, fake-rec, L_con)."""
    input:
        metrics=lambda wc: ablation_metrics("components"),
    output:
        markdown=f"{OUT}/paper/ablations/components.md",
        csv=f"{OUT}/paper/ablations/components.csv",
        latex=f"{OUT}/paper/ablations/components.tex",
        html=report(
            f"{OUT}/paper/ablations/components.html",
            caption=f"{REPORT_CAPTIONS}/ablations.rst",
            category="6. Ablations",
            labels={"ablation": "components", "output": "table"},
        ),
    log:
        f"logs/{EXPERIMENT}/ablations/components.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/ablations/components.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("ablation_components")
    resources:
        **rule_resources("ablation_components"),
    params:
        spec=lambda wc: as_json(ablation_spec(config)),
        out_dir=lambda wc, output: os.path.dirname(output.markdown),
    shell:
        "drct ablation --kind components --spec {params.spec:q} --metrics {input.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule ablation_lambda:
    """The lambda sweep: Avg per weight of the contrastive term, table and line plot."""
    input:
        metrics=lambda wc: ablation_metrics("lambda"),
    output:
        markdown=f"{OUT}/paper/ablations/lambda.md",
        csv=f"{OUT}/paper/ablations/lambda.csv",
        latex=f"{OUT}/paper/ablations/lambda.tex",
        html=report(
            f"{OUT}/paper/ablations/lambda.html",
            caption=f"{REPORT_CAPTIONS}/ablations.rst",
            category="6. Ablations",
            labels={"ablation": "lambda", "output": "table"},
        ),
        figure=report(
            f"{OUT}/paper/ablations/lambda.png",
            caption=f"{REPORT_CAPTIONS}/ablations.rst",
            category="6. Ablations",
            labels={"ablation": "lambda", "output": "plot"},
        ),
        figure_pdf=f"{OUT}/paper/ablations/lambda.pdf",
    log:
        f"logs/{EXPERIMENT}/ablations/lambda.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/ablations/lambda.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("ablation_lambda")
    resources:
        **rule_resources("ablation_lambda"),
    params:
        spec=lambda wc: as_json(ablation_spec(config)),
        out_dir=lambda wc, output: os.path.dirname(output.markdown),
    shell:
        "drct ablation --kind lambda --spec {params.spec:q} --metrics {input.metrics:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule paper:
    """Aggregate target: every protocol's tables and figures, the studies and the sample grids."""
    input:
        paper_targets(),
