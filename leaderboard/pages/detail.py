"""The Model detail page: one entry's every number, where its predictions are, a preview of them, and a
"copy link" that points at exactly this entry (`?detail=<request id>`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import gradio as gr
import pandas as pd

from leaderboard.audit_view import audit_markdown
from leaderboard.data import Loaded
from leaderboard.detail_view import EMPTY_DETAIL, DetailView, claims_markdown, detail_choices, detail_view
from leaderboard.pages.board import Update
from leaderboard.pages.serving import READ_ONLY
from leaderboard.pages.throughput import throughput_records
from leaderboard.queue_view import throughput_states, work_progress
from leaderboard.throughput_view import both_tracks, tracks_markdown
from openasr_core.activity import AUDIT, THROUGHPUT, Work
from openasr_core.config import ThroughputConfig
from openasr_core.records import ThroughputResult
from openasr_core.store import Store
from openasr_core.untrusted import clean

PREVIEW_ROWS = 200
PREVIEW_WIDTHS = ["13%", "37%", "37%", "6.5%", "6.5%"]  # id, reference, prediction, duration_s, time_s

# Copies the absolute link to this entry; the fallback covers pages without the async clipboard (plain http).
COPY_LINK_JS = """
(detail) => {
  if (!detail) { return []; }
  const url = `${window.location.origin}${window.location.pathname}?detail=${encodeURIComponent(detail)}`;
  const fallback = () => {
    const area = document.createElement("textarea");
    area.value = url; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(url).catch(fallback);
  } else { fallback(); }
  const button = document.querySelector("#detail-copy-link");
  if (button) { const label = button.textContent; button.textContent = "✓ Link copied";
    setTimeout(() => { button.textContent = label; }, 2000); }
  return [];
}
"""


def detail_link(request_id: str) -> str:
    """The shareable, relative link to one entry."""
    return f"?detail={quote(request_id, safe='')}"


class DetailPage:
    """The components of the Model detail tab; build inside its `gr.Tab`."""

    def __init__(
        self,
        store: Store,
        max_rtf: float,
        verified: Callable[[ThroughputResult], bool] | None = None,
        current_work: Callable[[], Work | None] = lambda: None,
        throughput: ThroughputConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`current_work`: what this Space's scheduler runs now, so a running throughput run or audit of the
        entry is said on its page; `throughput`: the throughput runs' retry policy, to say when one is retried."""
        self.store, self.max_rtf, self.verified = store, max_rtf, verified
        self.current_work = current_work
        self.throughput, self.clock = throughput or ThroughputConfig(), clock
        with gr.Row(equal_height=False):
            self.select = gr.Dropdown(
                [],
                label="Model",
                info="Every entry of this leaderboard version; or click a row on the Leaderboard tab.",
                elem_id="detail-select",
                scale=4,
            )
            self.copy_link = gr.Button("🔗 Copy link", size="sm", scale=0, min_width=140, elem_id="detail-copy-link")
        self.link = gr.Markdown(elem_classes=["lb-link"], elem_id="detail-link")
        self.header = gr.Markdown(EMPTY_DETAIL, elem_id="detail-header")
        self.table = gr.Dataframe(interactive=False, wrap=True, show_label=False, visible=False, elem_id="detail-table")
        self.claims = gr.Markdown(elem_id="detail-claims")
        self.tracks = gr.Markdown(elem_id="detail-tracks")
        self.audit = gr.Markdown(elem_id="detail-audit")
        with gr.Row(equal_height=True):
            self.audit_button = gr.Button(
                "🔍 Request an audit", size="sm", scale=0, min_width=200, visible=False, elem_id="detail-audit-request"
            )
            self.audit_result = gr.Markdown(elem_id="detail-audit-result")
        with gr.Row():
            with gr.Column(scale=3):
                self.measurement = gr.Markdown()
            with gr.Column(scale=2):
                self.reproduce = gr.Code(
                    label="Reproduce this entry",
                    language="shell",
                    interactive=False,
                    visible=False,
                    wrap_lines=True,
                    show_line_numbers=False,
                    lines=2,
                )
                self.predictions = gr.Markdown()
        with gr.Accordion("Preview raw predictions", open=False, visible=False) as self.preview_box:
            self.preview_set = gr.Dropdown([], label="Eval set")
            self.preview_table = gr.Dataframe(
                interactive=False,
                wrap=True,
                show_label=False,
                max_height=420,
                column_widths=PREVIEW_WIDTHS,
                elem_id="preview-table",
            )

    @property
    def outputs(self) -> list[gr.components.Component]:
        """What `render` fills (the dropdown is set by `choose`)."""
        return [
            self.link,
            self.header,
            self.table,
            self.claims,
            self.tracks,
            self.audit,
            self.audit_button,
            self.audit_result,
            self.measurement,
            self.reproduce,
            self.predictions,
            self.preview_box,
            self.preview_set,
            self.preview_table,
        ]

    def wire(self) -> None:
        self.copy_link.click(None, inputs=[self.select], js=COPY_LINK_JS)
        self.preview_set.input(
            self.preview, inputs=[self.select, self.preview_set], outputs=[self.preview_table], **READ_ONLY
        )

    def choose(self, loaded: Loaded, selected: str | None) -> Update:
        """The dropdown listing every entry, `selected` chosen if it is one of them."""
        choices = [(c.label, c.request_id) for c in detail_choices(list(loaded.board.entries))]
        ids = {c[1] for c in choices}
        return {self.select: gr.Dropdown(choices=choices, value=selected if selected in ids else None)}

    def render(self, loaded: Loaded, request_id: str | None) -> Update:
        """The page for `request_id`, or a hint when it is not an entry of this board."""
        view = loaded.cached(("detail", request_id), lambda: self._view(loaded, request_id))
        if view is None:
            return self._blank("Choose a model above." if loaded.board.entries else EMPTY_DETAIL)
        assert request_id is not None
        sets = list(loaded.snapshot.results[request_id].datasets)
        first = sets[0] if sets else None
        return {
            self.link: f"Link to this entry: [`{detail_link(request_id)}`]({detail_link(request_id)})",
            self.header: view.header,
            self.table: gr.Dataframe(value=view.datasets, visible=True),
            self.claims: loaded.cached(("claims", request_id), lambda: self.claims_of(loaded, request_id)),
            **self._tracks_and_audit(loaded, request_id),
            self.audit_button: gr.Button(visible=True),
            self.audit_result: "",
            self.measurement: view.measurement,
            self.reproduce: gr.Code(value=view.reproduce, visible=True),
            self.predictions: view.predictions,
            self.preview_box: gr.Accordion(visible=True),
            self.preview_set: gr.Dropdown(choices=sets, value=first),
            self.preview_table: loaded.cached(("preview", request_id, first), lambda: self.preview(request_id, first)),
        }

    def _view(self, loaded: Loaded, request_id: str | None) -> DetailView | None:
        result = loaded.snapshot.results.get(request_id or "")
        entry = loaded.board.entry(request_id or "")
        if result is None or entry is None or request_id is None:
            return None
        links = {name: self.store.predictions_url(request_id, name) for name in result.datasets}
        request = loaded.snapshot.requests.get(request_id)
        return detail_view(result, entry, request, links, max_rtf=self.max_rtf)

    def _tracks_and_audit(self, loaded: Loaded, request_id: str) -> Update:
        """Both tracks and the audits, memoized per store version, unless this Space is running the entry's
        throughput run or audit right now: then its page says so, with the progress."""
        work = self.current_work()
        work = work if work is not None and work.request_id == request_id else None
        audit = loaded.cached(("audit", request_id), lambda: self.audits(loaded, request_id))
        if work is not None and work.kind == AUDIT:
            heading, _, rest = audit.partition("\n\n")  # the line goes under the section's heading
            audit = f"{heading}\n\n⏳ **Audit running**: {work_progress(work)}.\n\n{rest}"
        if work is not None and work.kind == THROUGHPUT:
            tracks = self.tracks_of(loaded, request_id, work_progress(work))
        else:
            state = self.throughput_state(loaded, request_id)  # moves with the clock (a lease, a retry pause)
            tracks = loaded.cached(
                ("tracks", request_id, state), lambda: self.tracks_of(loaded, request_id, state=state)
            )
        return {self.tracks: tracks, self.audit: audit}

    def throughput_state(self, loaded: Loaded, request_id: str) -> str | None:
        """Where the entry's throughput run stands when it was asked for and has no record (from the log)."""
        request = loaded.snapshot.requests.get(request_id)
        if request is None or not request.throughput or request_id in throughput_records(loaded, self.store):
            return None
        return throughput_states([request], loaded.snapshot.log, self.clock(), self.throughput).get(request_id)

    def tracks_of(
        self, loaded: Loaded, request_id: str, in_progress: str | None = None, state: str | None = None
    ) -> str:
        """Batch one and, when measured, throughput side by side (R14); the cost of each; `state`: where a run
        asked for and not yet recorded stands (`throughput_state`)."""
        result = loaded.snapshot.results[request_id]
        throughput = throughput_records(loaded, self.store).get(request_id)
        request = loaded.snapshot.requests.get(request_id)
        asked = bool(request is not None and request.throughput)
        return tracks_markdown(both_tracks(result, throughput, self.verified), asked, in_progress, state)

    @staticmethod
    def claims_of(loaded: Loaded, request_id: str) -> str:
        """What the model's repo claimed beside what was measured, and the results PR if one was asked for (R15)."""
        snapshot = loaded.snapshot
        return claims_markdown(snapshot.results[request_id], snapshot.requests.get(request_id), snapshot.log)

    @staticmethod
    def audits(loaded: Loaded, request_id: str) -> str:
        """The entry's audit section: latest verdict and evidence, open request, its audit log."""
        snapshot = loaded.snapshot
        return audit_markdown(request_id, snapshot.published_audits(), snapshot.log)

    def _blank(self, message: str) -> Update:
        return {
            self.link: "",
            self.header: message,
            self.table: gr.Dataframe(visible=False),
            self.claims: "",
            self.tracks: "",
            self.audit: "",
            self.audit_button: gr.Button(visible=False),
            self.audit_result: "",
            self.measurement: "",
            self.reproduce: gr.Code(visible=False),
            self.predictions: "",
            self.preview_box: gr.Accordion(visible=False),
            self.preview_set: gr.Dropdown(choices=[], value=None),
            self.preview_table: None,
        }

    def preview(self, request_id: str | None, eval_set: str | None) -> pd.DataFrame | None:
        """The first predictions of one eval set, or a line saying there are none. A model's transcript can hold
        anything: every text cell is cleaned (`openasr_core.untrusted.clean`: bidi overrides and other invisible format
        characters shown as U+FFFD); the dataframe shows `str` cells as text, so no escaping is needed."""
        if not request_id or not eval_set:
            return None
        try:
            rows = self.store.predictions(request_id, eval_set, limit=PREVIEW_ROWS)
        except (FileNotFoundError, KeyError, ValueError):
            return pd.DataFrame({"": [f"No stored predictions for {clean(eval_set)}."]})
        frame = pd.DataFrame([r.to_dict() for r in rows[:PREVIEW_ROWS]])
        for column in ("id", "reference", "prediction"):
            if column in frame:
                frame[column] = frame[column].map(clean)
        return frame.round({"duration_s": 3, "time_s": 3})  # milliseconds; more digits only wrap the narrow columns
