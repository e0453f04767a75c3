"""The one decoding configuration R7 allows, built from nothing, and the list of what a model asked for instead.

A model's own `generation_config.json` is untrusted: a submitter could ship `repetition_penalty`,
`no_repeat_ngram_size`, beams, sampling, suppressed tokens or forced prompt tokens there. transformers fills
every setting left unset in the config passed to `generate` from `model.generation_config`, so copying and
patching that config lets anything not patched leak in. Instead the evaluator builds a fresh config holding
only greedy decoding, English transcription without timestamps, the token budget of the rules, and the token
ids the architecture needs to run at all; it installs that config as the model's own, so nothing is merged
back in; it records the settings in the result, and lists what the model's files asked for and did not get.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import GenerationConfig

#: Token ids and vocabulary maps the architecture needs to decode at all; taken from the model, never tuned.
ARCHITECTURE_TOKEN_KEYS = (
    "decoder_start_token_id",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "lang_to_id",
    "task_to_id",
    "is_multilingual",
    "no_timestamps_token_id",
    "max_initial_timestamp_index",
)
#: Token keys whose value may be a list of ids.
LIST_TOKEN_KEYS = frozenset({"eos_token_id"})
#: Bookkeeping fields of a generation_config.json that change no output.
METADATA_KEYS = frozenset({"transformers_version", "_from_model_config", "alignment_heads", "prev_sot_token_id"})
#: What a recorded value is cut to, so a hostile config cannot bloat the result.
MAX_VALUE_CHARS = 80

LONG_FORM = (
    "Whisper sequential long-form generation over 30 s windows; timestamp tokens only place the window "
    "boundaries and are removed from the text; not conditioned on previous text; no temperature fallback"
)


@dataclass(frozen=True)
class Decoding:
    """What the evaluator decodes with (`settings`, recorded in the result) and what it refused (`ignored`)."""

    kind: str
    settings: dict[str, Any]
    ignored: tuple[str, ...]
    generation_config: GenerationConfig | None = None


#: OpenAI Whisper's rule for the tokens it never lets the decoder emit (`Tokenizer.non_speech_tokens` in
#: openai/whisper): symbols that are not speech, whether alone or after a space. Applied the same way to every
#: Whisper model, from its own tokenizer, so the suppressed ids cannot be tuned in a model's generation config.
NON_SPEECH_SYMBOLS = (
    *'"#()*+/:;<=>@[\\]^_`{|}~「」『』',
    *[
        "<<",
        ">>",
        "<<<",
        ">>>",
        "--",
        "---",
        "-(",
        "-[",
        "('",
        '("',
        "((",
        "))",
        "(((",
        ")))",
        "[[",
        "]]",
        "{{",
        "}}",
        "♪♪",
        "♪♪♪",
    ],
)
MUSIC_SYMBOLS = frozenset("♩♪♫♬♭♮♯")
#: Control tokens Whisper also never generates after its forced start (they exist only as prompt tokens).
WHISPER_CONTROL_TOKENS = (
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|nocaptions|>",
)


@dataclass(frozen=True)
class Suppression:
    """Token ids a Whisper decoder may never emit (`suppress`), and may not emit first (`begin`)."""

    suppress: tuple[int, ...]
    begin: tuple[int, ...]


def whisper_suppression(tokenizer: Any) -> Suppression:
    """Whisper's standard suppression, derived from the tokenizer by OpenAI's fixed rule (for whisper-base this
    gives exactly the 88 ids and `[220, eos]` its published generation config lists)."""

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    ids: set[int] = {tokens[0] for tokens in (encode(" -"), encode(" '")) if tokens}
    for symbol in (*NON_SPEECH_SYMBOLS, *sorted(MUSIC_SYMBOLS)):
        for tokens in (encode(symbol), encode(" " + symbol)):
            if len(tokens) == 1 or (tokens and symbol in MUSIC_SYMBOLS):
                ids.add(tokens[0])
    unknown = getattr(tokenizer, "unk_token_id", None)
    for name in WHISPER_CONTROL_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(name)
        if isinstance(token_id, int) and token_id != unknown:
            ids.add(token_id)
    space = encode(" ")
    begin = [space[0]] if space else []
    if getattr(tokenizer, "eos_token_id", None) is not None:
        begin.append(tokenizer.eos_token_id)
    return Suppression(suppress=tuple(sorted(ids)), begin=tuple(begin))


def generate_decoding(
    folder: Path,
    model_config: object,
    *,
    kind: str,
    max_new_tokens: int | None,
    max_target_positions: int | None = None,
    max_time_s: float | None = None,
    whisper: bool = False,
    suppression: Suppression | None = None,
    prompt: str = "none",
    prompt_tokens: Sequence[int] = (),
    settings: Mapping[str, Any] | None = None,
) -> Decoding:
    """R7 for a model decoded by `generate`: greedy, one sequence, English transcription, no timestamps.

    `max_new_tokens` None lets the family size the output from its input (a transducer walks its encoder frames,
    and blank steps count as steps, so a token budget would cut it). A prompted family's fixed request is
    `prompt` (in words) and `prompt_tokens` (the ids it becomes), recorded like Whisper's forced start tokens.
    `settings` adds recipe-specific entries to what is recorded.
    """
    budget = _token_budget(max_new_tokens, max_target_positions)
    config = _greedy_config(folder, model_config, budget, max_time_s, whisper=whisper, suppression=suppression)
    recorded: dict[str, Any] = {
        "kind": kind,
        "strategy": "greedy",
        "num_beams": 1,
        "do_sample": False,
        "max_new_tokens": budget if budget is not None else "set by the input's length (the family's own rule)",
        "language": "en" if _multilingual(config) or prompt_tokens else "model's only language",
        "task": "transcribe",
        "timestamps": False,
        "prompt": prompt,
        "logits_processors": "none beyond the architecture's forced start tokens",
    }
    if prompt_tokens:
        recorded["prompt_tokens"] = list(prompt_tokens)
    if max_time_s is not None:
        recorded["max_time_s"] = max_time_s
    if whisper:
        recorded["long_form"] = LONG_FORM
    if suppression is not None:
        recorded["suppressed_tokens"] = (
            f"Whisper's non-speech symbols and control tokens ({len(suppression.suppress)} ids, derived from the "
            f"tokenizer by OpenAI's rule); blank and end of text not first ({len(suppression.begin)} ids)"
        )
    recorded.update(settings or {})
    return Decoding(kind=kind, settings=recorded, ignored=ignored_settings(folder, config), generation_config=config)


def _token_budget(max_new_tokens: int | None, max_target_positions: int | None) -> int | None:
    """The new tokens one utterance may generate: the rules' `max_new_tokens`, within what the decoder's
    positions leave after Whisper's 4 start tokens; None (no budget) when the rules set none."""
    if max_new_tokens is None:
        return None
    limit = max_target_positions or max_new_tokens + 4
    return max(1, min(max_new_tokens, limit - 4))


def _greedy_config(
    folder: Path,
    model_config: object,
    budget: int | None,
    max_time_s: float | None,
    *,
    whisper: bool,
    suppression: Suppression | None,
) -> GenerationConfig:
    """The `GenerationConfig` R7 allows: greedy, one sequence, the architecture's own token ids, English
    transcription on a multilingual model; Whisper without timestamps or conditioning on earlier windows."""
    config = GenerationConfig(do_sample=False, num_beams=1, num_return_sequences=1)
    if budget is not None:
        config.max_new_tokens = budget
    for key, value in architecture_tokens(folder, model_config).items():
        setattr(config, key, value)
    if max_time_s is not None:
        config.max_time = max_time_s
    if _multilingual(config):
        config.language, config.task = "en", "transcribe"
    if whisper:
        config.return_timestamps = False
        config.condition_on_prev_tokens = False
    if suppression is not None:
        config.suppress_tokens = list(suppression.suppress)
        config.begin_suppress_tokens = list(suppression.begin)
    return config


def _multilingual(config: GenerationConfig) -> bool:
    """Whether the architecture's tokens name languages, so English must be asked for."""
    return bool(getattr(config, "is_multilingual", False) and getattr(config, "lang_to_id", None))


def architecture_tokens(folder: Path, model_config: object) -> dict[str, Any]:
    """The token ids and maps of `ARCHITECTURE_TOKEN_KEYS`, from generation_config.json, else from config.json.

    Read as plain JSON, never through `GenerationConfig.from_pretrained`, whose validation raises on settings
    the evaluator ignores anyway (`num_return_sequences` above `num_beams`). Values of the wrong type are dropped.
    A composite model (an audio encoder and a language model) keeps its token ids in its text config.
    """
    data = _read_json(folder / "generation_config.json")
    configs = [model_config]
    text_config = getattr(model_config, "get_text_config", None)
    if callable(text_config):
        configs.append(text_config(decoder=True))
    tokens: dict[str, Any] = {}
    for key in ARCHITECTURE_TOKEN_KEYS:
        value = data.get(key) if isinstance(data, dict) else None
        for config in configs:
            if value is None:
                value = getattr(config, key, None)
        if _token_value(key, value):
            tokens[key] = value
    return tokens


def _token_value(key: str, value: object) -> bool:
    """A token id (int), a flag (bool), a map of names to token ids, or for the end of text a list of ids (a
    model may stop on any of several, as Qwen3-ASR does)."""
    if isinstance(value, (bool, int)):
        return True
    if key in LIST_TOKEN_KEYS and isinstance(value, list):
        return bool(value) and all(type(v) is int for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and type(v) is int for k, v in value.items())


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def ctc_decoding(folder: Path, kind: str = "CTC", text: str = "the tokenizer's CTC collapse") -> Decoding:
    """R7 for a CTC model: one forward pass over the whole input, argmax per frame, the tokenizer's collapse."""
    settings = {
        "kind": kind,
        "strategy": "greedy (argmax per frame)",
        "input": "whole utterance",
        "lm": "none",
        "text": text,
    }
    return Decoding(kind=kind, settings=settings, ignored=ignored_settings(folder, None))


def ignored_settings(folder: Path, used: GenerationConfig | None) -> tuple[str, ...]:
    """Every setting of the model's generation_config.json (and decoding hints in config.json) not applied.

    A key counts as ignored when the model's files set it to something other than what the evaluator uses;
    token ids the architecture needs are used as they are, and bookkeeping fields are not decoding settings.
    An unreadable file is reported, not raised: no model file may stop the evaluation.
    """
    ignored: list[str] = []
    for name, keys in (("generation_config.json", None), ("config.json", CONFIG_DECODING_KEYS)):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            ignored.append(f"{name}: unreadable ({type(exc).__name__})")
            continue
        if not isinstance(data, dict):
            ignored.append(f"{name}: not a JSON object")
            continue
        for key in sorted(data):
            if keys is not None and key not in keys:
                continue
            if key in METADATA_KEYS or (used is not None and key in ARCHITECTURE_TOKEN_KEYS):
                continue
            value = data[key]
            if value is None or value == _DEFAULTS.get(key, _MISSING):
                continue  # the same as not setting it
            if used is not None and getattr(used, key, _MISSING) == value:
                continue
            ignored.append(f"{name}: {key}={_short(value)}")
    return tuple(ignored)


#: Generation settings older models keep in config.json; transformers may read some of them (forced ids).
CONFIG_DECODING_KEYS = frozenset(
    {
        "forced_decoder_ids",
        "suppress_tokens",
        "begin_suppress_tokens",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "num_beams",
        "length_penalty",
        "bad_words_ids",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "temperature",
        "top_k",
        "top_p",
        "do_sample",
    }
)
_MISSING = object()
#: transformers' own defaults (plus output flags off): a file that repeats one of them asks for nothing.
_DEFAULTS: dict[str, Any] = {
    **GenerationConfig._get_default_generation_params(),
    "output_attentions": False,
    "output_hidden_states": False,
}


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
