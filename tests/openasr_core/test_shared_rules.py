"""Rules that the Space and the evaluator both apply live in one module each; both sides use that module."""

from __future__ import annotations

import pytest

from openasr_core.families import FAMILIES, family_for
from openasr_core.redaction import redact
from openasr_core.workers import default_worker_name


def test_the_form_and_the_evaluator_accept_the_same_families() -> None:
    """One table (`openasr_core.families`): every family has a recipe the evaluator runs, and a class transformers has."""
    import transformers

    from evaluator.models import ModelLoadError, family_of
    from evaluator.recipes import RECIPES, recipe_class
    from leaderboard.submission import check_architecture
    from tests.leaderboard.test_submission import facts

    for family in FAMILIES:
        assert recipe_class(family) is RECIPES[family.recipe]
        assert hasattr(transformers, family.architecture), family.architecture
        assert family_for(family.architecture) is family
    assert {f.recipe for f in FAMILIES} == set(RECIPES)  # no recipe without a family
    for other in ("Pop2PianoForConditionalGeneration", "BertForMaskedLM"):
        assert check_architecture(facts(config={"architectures": [other]})) is not None
        with pytest.raises(ModelLoadError, match="has no recipe on this board"):
            family_of(other)


def test_redact_hides_environment_secrets_and_extra_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecret123")
    monkeypatch.setenv("RESULTS_SIGNING_KEY", "c2lnbmluZy1rZXktYmFzZTY0")
    text = "401 for hf_secretsecret123, key c2lnbmluZy1rZXktYmFzZTY0, api token hf_passedincode99"
    assert redact(text, ["hf_passedincode99", None]) == "401 for ***, key ***, api token ***"
    assert redact("short abc", ["abc"]) == "short abc"  # too short to be a secret; replacing would garble text


def test_worker_names_say_what_runs_them_and_are_unique() -> None:
    first, second = default_worker_name("space"), default_worker_name("space")
    assert first.startswith("space:") and first != second


def test_one_license_rule_for_local_cards_and_hub_model_info(tmp_path) -> None:
    from types import SimpleNamespace

    from openasr_core.model_files import card_license, hub_card_license

    (tmp_path / "README.md").write_text("---\nlicense:\n- mit\n- apache-2.0\n---\n# card\n")
    assert card_license(tmp_path) == "mit"
    assert hub_card_license(SimpleNamespace(card_data={"license": ["mit", "apache-2.0"]}, tags=[])) == "mit"
    assert hub_card_license(SimpleNamespace(card_data=None, tags=["audio", "license:cc-by-4.0"])) == "cc-by-4.0"
    assert hub_card_license(SimpleNamespace(card_data={"license": " "}, tags=[])) is None
