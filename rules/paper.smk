"""Paper outputs: tables in the paper's layout with its rows beside ours, and the accuracy figure.

Reads only metrics files, so it needs no GPU, no torch and no raw data.
"""


rule tables:
    """One protocol's table (Markdown, CSV) and per-generator accuracy figure, ours beside the paper's."""
    input:
        metrics=paper_inputs,
    output:
        markdown=f"{OUT}/paper/{{protocol}}/table.md",
        csv=f"{OUT}/paper/{{protocol}}/table.csv",
        figure=f"{OUT}/paper/{{protocol}}/table_accuracy.png",
        figure_pdf=f"{OUT}/paper/{{protocol}}/table_accuracy.pdf",
    log:
        f"logs/{EXPERIMENT}/tables/{{protocol}}.log",
    conda:
        "../envs/paper.yaml"
    params:
        spec=lambda wc: as_json(paper_spec(wc)),
        out_dir=lambda wc: f"{OUT}/paper/{wc.protocol}",
    shell:
        "drct tables --spec {params.spec:q} --metrics {input.metrics:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule paper:
    """Aggregate target: every protocol's table and figure."""
    input:
        [f"{OUT}/paper/{p['name']}/table.md" for p in config["evaluation"]["protocols"]],
