from __future__ import annotations

from pathlib import Path

import pytest

from openasr_core.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, load_config


def test_embedded_default_and_official_configs_load() -> None:
    local = load_config(env={})
    assert local.path == DEFAULT_CONFIG and local.store.kind == "local" and local.rules.gpu_class == "any"
    assert local.eval_sets[0].path == REPO_ROOT / "data" / "ljspeech-sample"
    assert (local.eval_sets[0].path / "metadata.csv").is_file()
    official = load_config(REPO_ROOT / "configs" / "esb-v1.toml", env={})
    assert official.rules.gpu_class == "A10G" and official.rules.warmup_utterances == 10
    names = [e.name for e in official.eval_sets]
    assert names == [
        "ami",
        "earnings22",
        "gigaspeech",
        "librispeech_test_clean",
        "librispeech_test_other",
        "spgispeech",
        "tedlium",
        "voxpopuli",
    ]
    assert {e.hub_id for e in official.eval_sets} == {"hf-audio/esb-datasets-test-only-sorted"}


def test_environment_overrides_where_things_live(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={"LEADERBOARD_STORE": "mystore", "LEADERBOARD_LOCAL_USER": "bob"})
    assert config.store.local_root == tmp_path / "mystore" and config.models_dir == tmp_path / "mystore" / "models"
    assert config.local_user == "bob"
    hub = load_config(env={"REQUESTS_REPO": "org/requests", "RESULTS_REPO": "org/results"})
    assert hub.store.kind == "hub" and hub.store.results_repo == "org/results"
    with pytest.raises(ConfigError, match="set both REQUESTS_REPO and RESULTS_REPO"):
        load_config(env={"REQUESTS_REPO": "org/requests"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[leaderboard]\n", "version is required"),
        ('[leaderboard]\nversion="v"\n', "at least one"),
        ('[leaderboard]\nversion="v"\n[rules]\nwarmup = 3\n[[eval_sets]]\nname="a"\npath="."\n', "unknown key"),
        (
            '[leaderboard]\nversion="v"\n[rules]\nmax_rtf = "fast"\n[[eval_sets]]\nname="a"\npath="."\n',
            "must be a float",
        ),
        ('[leaderboard]\nversion="v"\n[[eval_sets]]\nname="a"\n', "exactly one of `path`"),
        ("not toml [", "not valid TOML"),
        (
            '[leaderboard]\nversion="v"\nnormaliser="x"\n[[eval_sets]]\nname="a"\npath="."\n',
            r"unknown key\(s\) in \[leaderboard\]: \['normaliser'\]",
        ),
        (
            '[leaderboard]\nversion="v"\n[store]\nlocal_rot="s"\n[[eval_sets]]\nname="a"\npath="."\n',
            r"unknown key\(s\) in \[store\]: \['local_rot'\]",
        ),
        ('[leaderboard]\nversion="v"\n[audit]\ncadence = 3\n[[eval_sets]]\nname="a"\npath="."\n', "in \\[audit\\]"),
        (
            '[leaderboard]\nversion="v"\n[audit]\nrtf_tolerance = 5\n[[eval_sets]]\nname="a"\npath="."\n',
            "0 < rtf_tolerance < 1",
        ),
        (
            '[leaderboard]\nversion="v"\n[audit]\nevery_n_evaluations = 1.5\n[[eval_sets]]\nname="a"\npath="."\n',
            "must be a int",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEADERBOARD_CONFIG"):
        load_config(tmp_path / "nope.toml", env={})


def test_workers_table_is_typed_checked_and_filled_from_space_id(tmp_path: Path) -> None:
    base = (REPO_ROOT / "configs" / "local.toml").read_text().replace('mode = "space"', "")
    path = tmp_path / "board.toml"
    path.write_text(base.replace("[workers]", '[workers]\nmode = "jobs"\nmax_parallel_jobs = 8'))
    config = load_config(path, env={"SPACE_ID": "org/space"})
    assert config.workers.mode == "jobs" and config.workers.max_parallel_jobs == 8
    assert config.workers.job_image == "hf.co/spaces/org/space" and config.workers.flavor == "a10g-small"
    with pytest.raises(ConfigError, match="needs space_id"):
        load_config(path, env={})
    path.write_text(base.replace("[workers]", '[workers]\nmode = "gpu"'))
    with pytest.raises(ConfigError, match="mode must be one of"):
        load_config(path, env={})
    path.write_text(base.replace("[workers]", "[workers]\nmax_parallel_jobs = 2.5"))
    with pytest.raises(ConfigError, match="max_parallel_jobs must be a int"):
        load_config(path, env={})
    assert load_config(REPO_ROOT / "configs" / "esb-v1.toml", env={}).workers.mode == "space"


def test_audit_table_is_read_and_defaults_to_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    body = '[leaderboard]\nversion="v"\n[[eval_sets]]\nname="a"\npath="."\n'
    path.write_text(body)
    assert load_config(path, env={}).audit.rtf_tolerance == 0.05  # SPEC R13: within 5%
    path.write_text(body + "[audit]\nrtf_tolerance = 0.1\nevery_n_evaluations = 3\nmax_minutes_per_day = 30\n")
    audit = load_config(path, env={}).audit
    assert (audit.rtf_tolerance, audit.every_n_evaluations, audit.max_minutes_per_day) == (0.1, 3, 30.0)
    assert load_config(DEFAULT_CONFIG, env={}).audit.rtf_tolerance == 0.05


def test_a_relative_config_path_falls_back_to_the_repository_root(tmp_path: Path, monkeypatch) -> None:
    """A Job runs `--config configs/<version>.toml` (relative to the repository root, as the dispatcher writes
    it): the file is found whatever the working directory; a file in the working directory still comes first."""
    monkeypatch.chdir(tmp_path)
    assert load_config("configs/esb-v1.toml", env={}).path == REPO_ROOT / "configs" / "esb-v1.toml"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "esb-v1.toml").write_text((REPO_ROOT / "configs" / "local.toml").read_text())
    assert load_config("configs/esb-v1.toml", env={}).path == tmp_path / "configs" / "esb-v1.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/missing.toml", env={})
