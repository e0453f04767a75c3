"""The leaderboard-version config: eval sets, normalizer and rules in one TOML file, plus where the store lives.

`load_config()` reads `configs/local.toml` (the embedded default) unless `LEADERBOARD_CONFIG` names another
file. Environment variables override only *where* things live and who the local user is, never the rules:

| variable | effect |
|---|---|
| `LEADERBOARD_CONFIG` | path of the config file (relative: the working directory's, else the repository root's) |
| `LEADERBOARD_STORE` | folder of the local store (default from the file's `[store] local_root`) |
| `LEADERBOARD_MODELS_DIR` | folder whose `<org>/<name>` subfolders the Submit form accepts as local model ids |
| `REQUESTS_REPO`, `RESULTS_REPO` | Hub dataset repos; setting both switches the store to the Hub |
| `LEADERBOARD_LOCAL_USER` | who submits when no Hugging Face login is available (local runs only) |
| `SPACE_ID` | the Space whose image Jobs run (set by Hugging Face on a Space; `[workers] space_id` wins) |
"""

from __future__ import annotations

import datetime
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "local.toml"
ANY_GPU_CLASS = "any"


class ConfigError(ValueError):
    """The config file or an override is wrong; the message names the key and the file."""


@dataclass(frozen=True)
class Rules:
    """The rules in force (SPEC.md R1-R3, R10, R11); recorded in every result."""

    gpu_class: str = "A10G"
    warmup_utterances: int = 10
    max_rtf: float = 1.0
    utterance_timeout_s: float = 60.0
    max_attempts: int = 3
    lease_s: float = 900.0
    max_submissions_per_week: int = 5
    bootstrap_samples: int = 1000
    bootstrap_seed: int = 0
    max_new_tokens: int = 440

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditConfig:
    """How audits run (R13): the RTF tolerance, the cadence, the daily budget and how entries are chosen.

    `rtf_tolerance_by_class`: per hardware class (as results name it: "A10G", "CPU"), the relative RTF change
    two honest runs of one entry show on that class (measured with `bench/rtf_noise.py`; the config cites the
    measurement); `rtf_tolerance` is used for a class not listed. A re-run's RTF is outside the tolerance when
    the whole 95% interval of its paired time ratio lies outside [1/(1+t), 1+t].
    `max_attempts`: attempts of one audit (a requested one, or one whose last attempt was inconclusive or could
    not finish) before it is dropped, each logged `audit_started`; `retry_after_minutes` between two attempts.
    `busy_min_cpu_share`, `busy_max_load_excess`: a re-run is inconclusive (the machine was busy with other work)
    when the process got less than this share of its CPU threads during the timed calls, or the 1-minute load
    average exceeded the core count by more than this (`evaluator.load_probe`).
    `every_n_evaluations`: an audit becomes due after this many finished evaluations since the last audit.
    `max_minutes_per_day`: device minutes audits (all attempts) may use in any rolling 24 hours.
    `recent_half_life_days`: an entry this many days old is half as likely to be picked as a new one.
    `max_requests_per_week`: audits one user may ask for in any 7 days (their own limit, apart from submissions).
    `max_requests_per_entry`: audits all users together may ask for of one entry in any 7 days (so many accounts
    cannot spend the audit budget on one entry).
    `unrankable_when_unavailable`: an entry whose model can no longer be loaded at its pinned revision (the last
    attempt of its latest audit found the repo deleted, gated or private, or the revision gone) cannot be
    audited, so it leaves the ranking until an audit of it passes again; false keeps it ranked, marked.
    """

    rtf_tolerance: float = 0.05
    every_n_evaluations: int = 5
    max_minutes_per_day: float = 60.0
    recent_half_life_days: float = 30.0
    max_requests_per_week: int = 2
    rtf_tolerance_by_class: Mapping[str, float] = field(default_factory=dict, hash=False)
    max_attempts: int = 3
    retry_after_minutes: float = 60.0
    busy_min_cpu_share: float = 0.6
    busy_max_load_excess: float = 0.5
    max_requests_per_entry: int = 3
    unrankable_when_unavailable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rtf_tolerance_by_class": dict(self.rtf_tolerance_by_class)}

    def tolerance_for(self, hardware_class: str) -> float:
        """The RTF tolerance of `hardware_class` (case-insensitive), else the default `rtf_tolerance`."""
        by_class = {name.upper(): value for name, value in self.rtf_tolerance_by_class.items()}
        return by_class.get(hardware_class.upper(), self.rtf_tolerance)


@dataclass(frozen=True)
class EvalSetConfig:
    """One eval set: a local AudioFolder (`path`) or a Hub dataset (`hub_id`, `config`, `split`, `revision`).

    `claims` (R15): the test sets a model repo's claims may name that count as this one, each `id`,
    `id:config` or `id:config:split` (an `.eval_results` entry's `task_id` stands in the config's place), e.g.
    `"librispeech_asr:clean:test"`. A Hub set always counts its own `hub_id:config:split`; a local set, its name.
    """

    name: str
    path: Path | None = None
    hub_id: str | None = None
    config: str | None = None
    split: str = "test"
    revision: str = "main"
    audio_column: str = "audio"
    text_column: str = "text"
    id_column: str | None = None
    claims: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.hub_id if self.hub_id else str(self.path)


@dataclass(frozen=True)
class HardwarePrice:
    """What one hour of the board's hardware costs, where that figure came from and when it was read.

    Part of the leaderboard version (it lives in the version's config file and is recorded in every result),
    so a price change means a new version and never silently rewrites the cost of results already published.
    """

    usd_per_hour: float
    source: str
    date: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoreConfig:
    kind: Literal["local", "hub"]
    local_root: Path
    requests_repo: str | None = None
    results_repo: str | None = None


WORKER_MODES = ("space", "jobs")


@dataclass(frozen=True)
class WorkersConfig:
    """Who evaluates: the Space's own GPU (`space`) or Hugging Face Jobs started by the Space (`jobs`).

    In jobs mode the Space only dispatches; each request runs in its own Job on `flavor`, at most
    `max_parallel_jobs` at once, and dispatch holds while the last 7 days used `max_gpu_hours_per_week`.
    A Job's timeout is `timeout_factor` times the expected duration (model load plus `audio_hours` of audio
    at an RTF of `rtf_floor + rtf_per_billion_params * parameters / 1e9`), never below `min_timeout_s`.
    """

    mode: Literal["space", "jobs"] = "space"
    flavor: str = "a10g-small"
    max_parallel_jobs: int = 4
    max_gpu_hours_per_week: float = 300.0
    space_id: str | None = None
    image: str | None = None
    namespace: str | None = None
    audio_hours: float = 40.0
    rtf_floor: float = 0.02
    rtf_per_billion_params: float = 0.12
    startup_s: float = 600.0
    timeout_factor: float = 3.0
    min_timeout_s: float = 3600.0

    @property
    def job_image(self) -> str:
        """What `run_job` runs: an explicit image, else the Space's own image (`hf.co/spaces/<id>`)."""
        if self.image:
            return self.image
        if not self.space_id:
            raise ConfigError('[workers] mode = "jobs" needs space_id (or SPACE_ID, set on a Space) or image')
        return f"hf.co/spaces/{self.space_id}"


@dataclass(frozen=True)
class ThroughputConfig:
    """How a request's throughput run (R14) is retried after a crash or an error (`openasr_core.throughput_runs`).

    `lease_minutes`: how long one attempt holds the run (its `throughput_started` event says until when); another
    worker takes it up only after that, so it must outlast the longest ladder. `max_attempts`: attempts before the
    run is logged `throughput_dropped` with the last reason. `retry_after_minutes`: the pause after an attempt that
    stopped on an error (a crashed attempt waits for its lease instead).
    """

    lease_minutes: float = 180.0
    max_attempts: int = 3
    retry_after_minutes: float = 10.0


def _throughput(table: Mapping[str, Any], path: Path) -> ThroughputConfig:
    policy = ThroughputConfig(**_typed_values(table, ThroughputConfig(), "throughput", path))
    if policy.lease_minutes <= 0 or policy.max_attempts < 1 or policy.retry_after_minutes < 0:
        raise ConfigError(f"{path}: [throughput] needs lease_minutes > 0, max_attempts >= 1, retry_after_minutes >= 0")
    return policy


@dataclass(frozen=True)
class LeaderboardConfig:
    version: str
    title: str
    normalizer: str
    rules: Rules
    eval_sets: tuple[EvalSetConfig, ...]
    store: StoreConfig
    models_dir: Path
    local_user: str
    path: Path
    extra: Mapping[str, Any] = field(default_factory=dict)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    price: HardwarePrice | None = None
    throughput: ThroughputConfig = field(default_factory=ThroughputConfig)

    def eval_set(self, name: str) -> EvalSetConfig:
        for eval_set in self.eval_sets:
            if eval_set.name == name:
                return eval_set
        known = ", ".join(e.name for e in self.eval_sets)
        raise ConfigError(f"no eval set named {name!r} in {self.path}; known: {known}")


def _resolve(base: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


#: The keys of the [leaderboard] and [store] tables; any other key is a typo, refused with its name.
LEADERBOARD_KEYS = frozenset({"version", "title", "normalizer"})
STORE_KEYS = frozenset({"local_root", "requests_repo", "results_repo", "models_dir"})


def _known_keys(table: Mapping[str, Any], known: frozenset[str], name: str, path: Path) -> Mapping[str, Any]:
    """`table` itself, once every key in it is one of `known` (a misspelt key would otherwise be ignored)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [{name}] must be a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [{name}]: {unknown}; known: {sorted(known)}")
    return table


def _typed_values(table: Mapping[str, Any], defaults: Any, section: str, path: Path) -> dict[str, Any]:
    """The table's values, each checked against the type of the dataclass default it overrides."""
    known = {f.name for f in fields(defaults)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [{section}]: {sorted(unknown)}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"{path}: [{section}] {key} must be a {expected.__name__}, got {value!r}")
        values[key] = value
    return values


def _rules(table: Mapping[str, Any], path: Path) -> Rules:
    rules = Rules(**_typed_values(table, Rules(), "rules", path))
    if rules.warmup_utterances < 0 or rules.max_attempts < 1 or rules.lease_s <= 0 or rules.max_rtf <= 0:
        raise ConfigError(f"{path}: [rules] need warmup_utterances >= 0, max_attempts >= 1, lease_s > 0, max_rtf > 0")
    return rules


def _price(table: Mapping[str, Any] | None, path: Path) -> HardwarePrice | None:
    """`[hardware_price]`: `usd_per_hour` (a number >= 0), `source` and `date` (non-empty text), or absent."""
    if table is None:
        return None
    known = {"usd_per_hour", "source", "date"}
    if set(table) != known:
        raise ConfigError(f"{path}: [hardware_price] needs exactly the keys {sorted(known)}, got {sorted(table)}")
    usd = table["usd_per_hour"]
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not usd >= 0:
        raise ConfigError(f"{path}: [hardware_price] usd_per_hour must be a number >= 0, got {usd!r}")
    date = table["date"].isoformat() if isinstance(table["date"], datetime.date) else table["date"]
    for key, value in (("source", table["source"]), ("date", date)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [hardware_price] {key} must be text saying where and when the price was read")
    return HardwarePrice(usd_per_hour=float(usd), source=table["source"], date=date)


def _audit(table: Mapping[str, Any], path: Path) -> AuditConfig:
    audit = AuditConfig(**_typed_values(table, AuditConfig(), "audit", path))
    tolerances = [audit.rtf_tolerance, *audit.rtf_tolerance_by_class.values()]
    if not all(isinstance(t, float | int) and not isinstance(t, bool) and 0 < t < 1 for t in tolerances):
        raise ConfigError(f"{path}: [audit] needs 0 < rtf_tolerance < 1, and the same of each rtf_tolerance_by_class")
    if audit.every_n_evaluations < 1 or audit.max_attempts < 1 or audit.retry_after_minutes < 0:
        raise ConfigError(
            f"{path}: [audit] needs every_n_evaluations >= 1, max_attempts >= 1, retry_after_minutes >= 0"
        )
    if not (0 <= audit.busy_min_cpu_share <= 1) or audit.busy_max_load_excess < 0:
        raise ConfigError(f"{path}: [audit] needs 0 <= busy_min_cpu_share <= 1 and busy_max_load_excess >= 0")
    if audit.max_minutes_per_day < 0 or audit.recent_half_life_days <= 0 or audit.max_requests_per_week < 0:
        raise ConfigError(
            f"{path}: [audit] needs max_minutes_per_day >= 0, recent_half_life_days > 0 and max_requests_per_week >= 0"
        )
    if audit.max_requests_per_entry < 0:
        raise ConfigError(f"{path}: [audit] needs max_requests_per_entry >= 0")
    return audit


def _eval_sets(items: list[Mapping[str, Any]], base: Path, path: Path) -> tuple[EvalSetConfig, ...]:
    if not items:
        raise ConfigError(f"{path}: add at least one [[eval_sets]] entry")
    known = {f.name for f in fields(EvalSetConfig)}
    result = []
    for item in items:
        unknown = set(item) - known
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)} in [[eval_sets]]; known: {sorted(known)}")
        name = item.get("name")
        if not name:
            raise ConfigError(f"{path}: every [[eval_sets]] entry needs a name")
        if bool(item.get("path")) == bool(item.get("hub_id")):
            raise ConfigError(f"{path}: eval set {name!r} needs exactly one of `path` (local folder) or `hub_id`")
        values = dict(item)
        claims = values.get("claims", ())
        if not isinstance(claims, (list, tuple)) or not all(isinstance(c, str) and c.strip() for c in claims):
            raise ConfigError(f"{path}: eval set {name!r}: `claims` must be a list of `id[:config[:split]]` strings")
        values["claims"] = tuple(c.strip() for c in claims)
        if values.get("path"):
            values["path"] = _resolve(base, values["path"])
        result.append(EvalSetConfig(**values))
    names = [e.name for e in result]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: eval set names must be unique, got {names}")
    return tuple(result)


def _workers(table: Mapping[str, Any], env: Mapping[str, str], path: Path) -> WorkersConfig:
    """The `[workers]` table, typed and checked; `SPACE_ID` fills `space_id` when the file leaves it out."""
    defaults = WorkersConfig()
    known = {f.name for f in fields(WorkersConfig)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [workers]: {sorted(unknown)}; known: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = getattr(defaults, key)
        expected = str if default is None else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"{path}: [workers] {key} must be a {expected.__name__}, got {value!r}")
        values[key] = value
    if not values.get("space_id") and env.get("SPACE_ID"):
        values["space_id"] = env["SPACE_ID"]
    workers = WorkersConfig(**values)
    if workers.mode not in WORKER_MODES:
        raise ConfigError(f"{path}: [workers] mode must be one of {WORKER_MODES}, got {workers.mode!r}")
    if workers.max_parallel_jobs < 1 or workers.max_gpu_hours_per_week < 0 or workers.timeout_factor < 1:
        raise ConfigError(
            f"{path}: [workers] needs max_parallel_jobs >= 1, max_gpu_hours_per_week >= 0, timeout_factor >= 1"
        )
    if workers.mode == "jobs" and not (workers.space_id or workers.image):
        raise ConfigError(f'{path}: [workers] mode = "jobs" needs space_id (or the SPACE_ID variable) or image')
    return workers


def config_file(value: str | os.PathLike[str]) -> Path:
    """Where a config path points: an absolute path as it is; a relative one in the working directory when the
    file is there, else in the repository root (a Job's `--config configs/<version>.toml`, which the dispatcher
    writes relative to the repository root, so it is found whatever the image's working directory)."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.is_file():
        return path.resolve()
    in_repo = REPO_ROOT / path
    return in_repo.resolve() if in_repo.is_file() else path.resolve()


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> LeaderboardConfig:
    """Read the leaderboard-version config, applying the environment overrides listed in the module doc."""
    env = os.environ if env is None else env
    config_path = config_file(path or env.get("LEADERBOARD_CONFIG") or DEFAULT_CONFIG)
    if not config_path.is_file():
        raise ConfigError(f"config file {config_path} does not exist; set LEADERBOARD_CONFIG to a TOML file")
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
    base = config_path.parent
    board = _known_keys(data.get("leaderboard", {}), LEADERBOARD_KEYS, "leaderboard", config_path)
    if not board.get("version"):
        raise ConfigError(f"{config_path}: [leaderboard] version is required")
    store_table = _known_keys(data.get("store", {}), STORE_KEYS, "store", config_path)
    cwd = Path.cwd()
    local_root = (
        _resolve(cwd, env["LEADERBOARD_STORE"])
        if env.get("LEADERBOARD_STORE")
        else _resolve(base, store_table.get("local_root", "../store"))
    )
    requests_repo = env.get("REQUESTS_REPO") or store_table.get("requests_repo")
    results_repo = env.get("RESULTS_REPO") or store_table.get("results_repo")
    if bool(requests_repo) != bool(results_repo):
        raise ConfigError("set both REQUESTS_REPO and RESULTS_REPO for the Hub store, or neither for the local store")
    store = StoreConfig(
        kind="hub" if requests_repo else "local",
        local_root=local_root,
        requests_repo=requests_repo,
        results_repo=results_repo,
    )
    if env.get("LEADERBOARD_MODELS_DIR"):
        models_dir = _resolve(cwd, env["LEADERBOARD_MODELS_DIR"])
    elif env.get("LEADERBOARD_STORE") or not store_table.get("models_dir"):
        models_dir = local_root / "models"
    else:
        models_dir = _resolve(base, store_table["models_dir"])
    known_top = {"leaderboard", "rules", "store", "eval_sets", "workers", "audit", "hardware_price", "throughput"}
    return LeaderboardConfig(
        version=str(board["version"]),
        title=str(board.get("title", "Open ASR Leaderboard")),
        normalizer=str(board.get("normalizer", "whisper-english")),
        rules=_rules(data.get("rules", {}), config_path),
        eval_sets=_eval_sets(data.get("eval_sets", []), base, config_path),
        store=store,
        models_dir=models_dir,
        local_user=env.get("LEADERBOARD_LOCAL_USER") or "local-user",
        path=config_path,
        extra={k: v for k, v in data.items() if k not in known_top},
        workers=_workers(data.get("workers", {}), env, config_path),
        audit=_audit(data.get("audit", {}), config_path),
        price=_price(data.get("hardware_price"), config_path),
        throughput=_throughput(data.get("throughput", {}), config_path),
    )
