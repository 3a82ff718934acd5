"""Prompt-lookup drafts: the tokens that followed, in the prompt, what the model just wrote."""

from engine.prompt_lookup import lookup_draft


def test_lookup_draft_copies_what_followed_in_the_prompt():
    prompt = [1, 2, 3, 4, 5, 6, 7, 8]
    assert lookup_draft(prompt, [9, 3, 4], max_draft=3, ngram=3) == [5, 6, 7]
    assert lookup_draft(prompt, [9, 10], max_draft=3, ngram=3) == []
    assert lookup_draft(prompt, [], max_draft=3, ngram=3) == []


def test_a_draft_is_capped_and_a_one_token_match_is_not_worth_one():
    prompt = [1, 2, 3, 4, 5, 6, 7, 8]
    assert lookup_draft(prompt, [3, 4], max_draft=2, ngram=3) == [5, 6]
    assert lookup_draft(prompt, [9, 5], max_draft=3, ngram=3, min_ngram=2) == []
    assert lookup_draft(prompt, [9, 5], max_draft=3, ngram=3, min_ngram=1) == [6, 7, 8]
    assert lookup_draft(prompt, [3, 4], max_draft=0, ngram=3) == []
