"""The Space's look: the stylesheet and the gradio theme."""

from __future__ import annotations

import gradio as gr

CSS = """
.lb-header { padding: 4px 0 2px 0; }
.lb-header h1 { margin: 0 0 2px 0; font-size: 1.75rem; }
.lb-header p { margin: 0; color: var(--body-text-color-subdued); }
.lb-stats { color: var(--body-text-color-subdued); font-size: 0.92rem; }
.lb-muted { color: var(--body-text-color-subdued); font-size: 0.88em; margin-left: 6px; }
.lb-empty { padding: 28px 16px; text-align: center; color: var(--body-text-color-subdued);
  border: 1px dashed var(--border-color-primary); border-radius: 10px; font-size: 1.02rem; }
.lb-running { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 14px;
  margin-bottom: 10px; background: var(--block-background-fill); }
.lb-running-head { margin-bottom: 8px; }
.lb-running-foot { margin-top: 6px; font-size: 0.92rem; color: var(--body-text-color-subdued); }
.lb-bar { height: 10px; background: var(--neutral-200); border-radius: 6px; overflow: hidden; }
.lb-bar-fill { height: 100%; background: var(--color-accent); transition: width 0.6s ease; }
.lb-status p { margin: 0; }
.table-wrap table, .table-wrap th, .table-wrap td, .table-wrap .cell-wrap {
  font-family: var(--font) !important; font-variant-numeric: tabular-nums; }
#lb-table a { color: var(--color-accent); text-decoration: none; font-weight: 600; }
#lb-table a:hover { text-decoration: underline; }
#about table td:first-child { white-space: nowrap; }
#about { max-width: 1200px; }
#detail-header a { color: var(--color-accent); text-decoration: none; }
.prose table.lb-kv, table.lb-kv { border-collapse: collapse; margin: 4px 0 10px 0; font-size: 0.94rem; border: none !important; }
table.lb-kv th, table.lb-kv td { border: none !important; border-bottom: 1px solid var(--border-color-primary) !important;
  background: none !important; padding: 4px 22px 4px 0 !important; text-align: left; vertical-align: top; }
table.lb-kv tr { border: none !important; }
table.lb-kv th { font-weight: 500; color: var(--body-text-color-subdued); white-space: nowrap; }
table.lb-kv td { font-family: var(--font-mono); font-size: 0.9em; }
.lb-link { font-size: 0.92rem; color: var(--body-text-color-subdued); }
#preview-table table { table-layout: auto; }
#log-table [data-col="2"] span { word-break: normal !important; overflow-wrap: normal !important; white-space: nowrap; }
"""


def theme() -> gr.themes.Base:
    """A calm theme: indigo accents and system fonts (no web-font download, so it renders offline too)."""
    return gr.themes.Soft(
        primary_hue="indigo",
        secondary_hue="emerald",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
