"""The Submit page: the form, what is checked, and the local models that can be submitted by id."""

from __future__ import annotations

import gradio as gr

from leaderboard import submission
from leaderboard.pages.board import Update
from leaderboard.pages.context import AppContext, default_precision, resolve_submitter
from openasr_core.families import available_families, supported_list
from openasr_core.records import PRECISIONS
from openasr_core.untrusted import md_code


class SubmitPage:
    """The components of the Submit tab; build inside its `gr.Tab`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        config = ctx.config
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown(
                    "### Submit a model\nThe model is checked now (nothing is written unless every rule "
                    "holds), then queued; the evaluator runs it in the background, one utterance at a "
                    "time, and its result appears on the Leaderboard."
                )
                if ctx.login_button:
                    gr.LoginButton()
                else:
                    gr.Markdown(
                        f"Running locally: you submit as **`{config.local_user}`** "
                        "(set `LEADERBOARD_LOCAL_USER` to change it). On the Space you sign in with Hugging Face."
                    )
                self._build_form()
            with gr.Column(scale=2):
                self.help = gr.Markdown(elem_id="submit-help")

    def _build_form(self) -> None:
        precision = default_precision(self.ctx.config, self.ctx.has_gpu)
        self.model_id = gr.Textbox(
            label="Model id", placeholder="org/name, e.g. openai/whisper-base", elem_id="submit-model"
        )
        with gr.Row():
            self.revision = gr.Textbox(
                value="main",
                label="Revision",
                info="Branch, tag or commit SHA; pinned to a SHA now.",
                elem_id="submit-revision",
            )
            self.precision = gr.Radio(
                list(PRECISIONS),
                value=precision,
                label="Precision",
                info="The default follows the hardware: "
                + ("half precision on the board's GPU." if precision == "float16" else "full precision without a GPU."),
                elem_id="submit-precision",
            )
        self.accept = gr.Checkbox(
            label="I accept the rules (About tab): batch size one, pinned revision, safetensors only, "
            "public log, no retraction.",
            elem_id="submit-accept",
        )
        self.throughput = gr.Checkbox(
            label="Also measure offline throughput",
            info="After the batch-one evaluation, the same model is run batched (batch sizes 1, 4, 16, …) for the "
            "Throughput tab. It never changes the Leaderboard's ranking or its real-time verdict.",
            elem_id="submit-throughput",
        )
        self.publish = gr.Checkbox(
            label="Open a pull request with the verified results on the model's repo",
            info="After the result is finished and its signature verifies, the board opens one pull request adding "
            "`.eval_results/<board>.yaml` (the Hub's Evaluation Results format) with the measured WER per eval set. "
            "The model's owners decide whether to merge it.",
            elem_id="submit-publish",
        )
        self.button = gr.Button("Submit for evaluation", variant="primary", elem_id="submit-button")
        self.result = gr.Markdown(elem_id="submit-result")

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.model_id, self.revision, self.precision, self.accept, self.throughput, self.publish]

    def help_markdown(self) -> str:
        local = self.ctx.inspector.local
        models = local.model_ids()
        listed = "\n".join(f"- {md_code(m)}" for m in models[:20]) if models else "- _none yet_"
        more = f"\n- … and {len(models) - 20} more" if len(models) > 20 else ""
        limit = self.ctx.config.rules.max_submissions_per_week
        return (
            "### What is checked\n"
            "- the id is `org/name` and the model exists (Hub, or the local models folder)\n"
            "- the revision resolves to a commit SHA (R4)\n"
            "- safetensors weights, no custom code, and a supported model family (R6: "
            f"{supported_list(available_families())}; the About page shows each family's kind and fixed prompt)\n"
            "- a license in the model card: one of the Hub's license ids "
            "([list](https://huggingface.co/docs/hub/repositories-licenses)), or `other` with a `license_name`; "
            "and a parameter count from the weights\n"
            "- no identical (model, SHA, precision) pending, running or finished, and at most "
            f"{limit} submissions per user in 7 days (R10)\n\n"
            "### Local models\n"
            f"Folders under `{local.models_dir}` named `<org>/<name>/` (transformers format) can be submitted "
            "by that id; their revision is the digest of their files. Found:\n" + listed + more
        )

    def submit(
        self,
        model_text: str,
        revision_text: str,
        precision: str,
        accepted: bool,
        throughput: bool,
        profile: gr.OAuthProfile | None,
        publish: bool = False,
    ) -> Update:
        """Check and queue one submission; on success the board re-reads the store and the scheduler wakes.
        The repo's claims on the board's eval sets are read and recorded with it (R15)."""
        ctx = self.ctx
        username = profile.username if profile is not None else None
        submitter = resolve_submitter(username, ctx.space, ctx.config.local_user)
        form = submission.SubmissionForm.from_inputs(
            model_text, revision_text, precision, accepted, throughput, publish
        )
        outcome = submission.submit(
            form,
            submitter,
            source=ctx.inspector,
            store=ctx.store,
            rules=ctx.config.rules,
            eval_sets=ctx.config.eval_sets,
        )
        if outcome.accepted:
            ctx.source.invalidate()
            ctx.wake_scheduler()
        return {self.result: outcome.message}
