"""LangChain as the model and retrieval layer: any chat model is a backend, cards as a retriever,
prompts as templates, callbacks into turn timings."""

from __future__ import annotations

import json
import time

import pytest

import lc_models
from lc_models import EchoChat

from coach.engine import Coach
from coach.llm import LLMBadResponse, LLMTimeout, LLMUnavailable, RequestPolicy, get_backend
from coach.llm.langchain_backend import LangChainBackend

FAST = RequestPolicy(timeout=5.0, first_token_timeout=0.5, connect_timeout=0.5, retries=1,
                     backoff=0.01)


@pytest.fixture(autouse=True)
def _fresh_records():
    EchoChat.seen.clear()
    EchoChat.attempts.clear()
    yield


# --- any LangChain chat model is a backend -----------------------------------------------------


def test_a_whole_session_runs_through_a_langchain_chat_model(ready_index):
    backend = LangChainBackend(EchoChat(), policy=FAST)
    coach = Coach(llm=backend)
    assert coach.strategy == "full"  # a chat-only model writes the whole reply
    sid, welcome = coach.start_session(region="us")
    assert "AI" in welcome
    turns = ["My husband hid a second phone and I found messages to another woman.",
             "I keep replaying it at night and I can't focus at work.",
             "I want to know whether I can ever trust him again."]
    results = [coach.reply(sid, t) for t in turns]
    from_model = [r for r in results if r.backend == "langchain"]
    assert from_model, [r.backend for r in results]
    assert any("steadier this week" in r.reply for r in from_model)
    # the model saw the coach's own prompts and the person's words, with each request's
    # length limit and temperature set on the model's own fields
    from coach.compose import prompts
    p = prompts()
    for req in EchoChat.seen:
        (role, system), (_, human) = req["messages"][:2]
        assert role == "system" and human in turns
        if system == p["reflection_system"]:
            assert req["max_tokens"] == 60
        else:
            assert system.startswith(p["full_system"].split("{")[0]) and req["max_tokens"] == 220
        assert req["temperature"] == 0.6
    # callbacks measured the model's part of the turn
    timed = from_model[0].timings
    assert timed["llm_calls"] >= 1 and timed["llm_tokens_out"] >= 10
    assert 0 <= timed["llm_first_token"] <= timed["llm_model"]
    coach.close()


def test_a_model_is_chosen_by_name_with_its_settings(monkeypatch, ready_index):
    monkeypatch.setenv("COACH_LLM", "langchain:lc_models.EchoChat")
    monkeypatch.setenv("COACH_MODEL", "echo-big")
    monkeypatch.setenv("COACH_LLM_OPTIONS", json.dumps({"reply": "Named model speaking, "
                                                                "with enough words to count."}))
    backend = get_backend()
    assert backend.name == "langchain:lc_models.EchoChat"
    text = "".join(backend.chat([{"role": "user", "content": "hi"}], max_tokens=20))
    assert text == "Named model speaking, with enough words to count."
    assert EchoChat.seen[-1]["model"] == "echo-big"
    coach = Coach()  # COACH_LLM picks it for the coach too
    assert coach.backend_name == "langchain:lc_models.EchoChat" and coach.strategy == "full"
    coach.close()


def test_a_missing_integration_names_the_package_to_install(monkeypatch):
    with pytest.raises(LLMUnavailable, match="pip install langchain-nowhere"):
        get_backend("langchain:langchain_nowhere.ChatNowhere")
    with pytest.raises(LLMUnavailable, match="not a LangChain chat model"):
        get_backend("langchain:json.JSONDecoder")
    monkeypatch.setenv("COACH_LLM", "langchain:nodots")
    from coach.settings import SettingsError
    with pytest.raises(SettingsError, match="COACH_LLM must be"):
        get_backend()


def test_the_first_token_has_a_deadline():
    backend = LangChainBackend(EchoChat(delay=3.0), policy=FAST)
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        "".join(backend.chat([{"role": "user", "content": "hi"}]))
    assert time.monotonic() - started < 2.0


def test_failures_before_the_first_token_are_retried_and_after_it_are_not():
    backend = LangChainBackend(EchoChat(fail_first=1), policy=FAST)
    assert "painful" in "".join(backend.chat([{"role": "user", "content": "hi"}]))
    assert len(EchoChat.attempts) == 2
    EchoChat.attempts.clear()
    broken = LangChainBackend(lc_models.BrokenAfterFirstToken(), policy=FAST)
    got = []
    with pytest.raises(LLMUnavailable, match="Can't reach"):
        for piece in broken.chat([{"role": "user", "content": "hi"}]):
            got.append(piece)
    assert got == ["That "] and len(EchoChat.attempts) == 1


def test_provider_errors_become_the_coachs_errors():
    backend = LangChainBackend(lc_models.Refuses(), policy=FAST)
    with pytest.raises(LLMUnavailable, match="refused the credentials"):
        "".join(backend.chat([{"role": "user", "content": "hi"}]))
    always_down = LangChainBackend(EchoChat(fail_first=99), policy=FAST)
    with pytest.raises(LLMUnavailable):
        "".join(always_down.chat([{"role": "user", "content": "hi"}]))
    assert len(EchoChat.attempts) == 1 + 1 + FAST.retries  # Refuses once, then 1 + retries


def test_empty_replies_and_raw_completions_are_clear():
    backend = LangChainBackend(EchoChat(reply=""), policy=FAST)
    with pytest.raises(LLMBadResponse, match="empty reply"):
        "".join(backend.chat([{"role": "user", "content": "hi"}]))
    from coach.llm import LLMUnsupported
    with pytest.raises(LLMUnsupported):
        backend.complete("hi")
    assert backend.can_prefill is False


def test_a_model_that_crashes_mid_session_falls_back_and_loses_nothing(ready_index):
    coach = Coach(llm=LangChainBackend(lc_models.Refuses(), policy=FAST))
    sid, _ = coach.start_session()
    result = coach.reply(sid, "My wife lied to me about money for a year and I feel stupid.")
    assert result.backend == "scripted" and result.reply
    assert [t.role for t in coach.store.turns(sid)] == ["assistant", "user", "assistant"]
    coach.close()


# --- strategy by capability ----------------------------------------------------------------------


def test_strategy_follows_what_the_model_can_do(monkeypatch):
    from coach.llm.openai_backend import Endpoint, OpenAIBackend

    remote = OpenAIBackend(endpoint=Endpoint(base_url="http://127.0.0.1:9/v1", model="m"))
    templated = OpenAIBackend(endpoint=Endpoint(base_url="http://127.0.0.1:9/v1", model="m"),
                              template="{% for m in messages %}{{ m.content }}{% endfor %}")
    assert Coach(llm=remote, index=object()).strategy == "full"
    assert Coach(llm=templated, index=object()).strategy == "compose"
    monkeypatch.setenv("COACH_STRATEGY", "full")
    assert Coach(llm=templated, index=object()).strategy == "full"


# --- the knowledge base as a retriever ------------------------------------------------------------


def test_guidance_retriever_returns_cards_as_documents(ready_index):
    from langchain_core.documents import Document

    from coach.retrieval import GuidanceRetriever

    docs = GuidanceRetriever(k=3).invoke("how do I stop checking my partner's phone?")
    assert 1 <= len(docs) <= 3 and all(isinstance(d, Document) for d in docs)
    meta = docs[0].metadata
    assert {"id", "title", "stage", "audience", "tip", "fits", "score"} <= set(meta)
    assert docs[0].page_content and docs[0].id == meta["id"]
    staged = GuidanceRetriever(k=4, stage="boundaries").invoke("what is fair to ask for?")
    assert staged and {d.metadata["stage"] for d in staged} == {"boundaries"}


def test_guidance_retriever_never_gives_the_other_partners_guidance(ready_index):
    from coach.retrieval import GuidanceRetriever

    query = "how do I rebuild trust after the affair, what do I say?"
    for role, other in (("hurt_partner", "partner_who_broke_trust"),
                        ("partner_who_broke_trust", "hurt_partner")):
        docs = GuidanceRetriever(k=6, role=role).invoke(query)
        assert docs
        for d in docs:
            fits = d.metadata["fits"]
            assert (role in fits) if fits else d.metadata["audience"] in (role, "both")
        unfiltered = GuidanceRetriever(k=12).invoke(query)
        assert any(other in d.metadata["fits"] and role not in d.metadata["fits"]
                   for d in unfiltered), "the query should reach the other side's cards"


def test_the_documented_chain_example_runs(ready_index):
    """docs/langchain.md: the retriever in a chain with a prompt (the model is a test double)."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    from coach.retrieval import GuidanceRetriever

    retriever = GuidanceRetriever(k=2, role="hurt_partner")
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from this guidance only:\n{guidance}"),
        ("human", "{question}"),
    ])

    def join(docs):
        return "\n\n".join(f"{d.metadata['title']}: {d.metadata['tip']}" for d in docs)

    chain = ({"guidance": retriever | join, "question": RunnablePassthrough()}
             | prompt | EchoChat(reply="From the guidance: go slowly.") | StrOutputParser())
    assert chain.invoke("he lied again, how do I set a boundary?") == "From the guidance: go slowly."
    sent = EchoChat.seen[-1]["messages"][0][1]
    assert "Answer from this guidance only" in sent and ":" in sent.splitlines()[1]


# --- prompts as templates -------------------------------------------------------------------------


def test_prompts_load_into_chat_prompt_templates_with_the_same_words():
    from langchain_core.prompts import ChatPromptTemplate

    from coach.compose import prompts
    from coach.evals.judge import judge_prompt
    from coach.prompting import chat_prompt, render

    p = prompts()
    t = chat_prompt(p["full_system"])
    assert isinstance(t, ChatPromptTemplate)
    assert {"role_text", "stage_name", "card_title", "card_tip", "card_body", "card_question",
            "user_text"} <= set(t.input_variables)
    values = dict(role_text="R", stage_name="S", card_title="T", card_tip="TIP", card_body="B",
                  card_question="Q?", user_text="hello {not a field}")
    msgs = render(p["full_system"], **values)
    assert msgs[0]["content"] == p["full_system"].format(**values)
    assert msgs[1] == {"role": "user", "content": "hello {not a field}"}
    j = judge_prompt()
    jt = chat_prompt(j["system"], j["user"])
    assert set(jt.input_variables) == {"history", "user", "reply"}
    out = jt.format_messages(history="-", user="u", reply="r")
    assert out[0].content == j["system"]  # the JSON example's braces kept as they are


# --- the real embedded server, reached through LangChain (slow) ------------------------------------


@pytest.fixture(scope="module")
def embedded():
    from coach.llm.local import LocalBackend

    backend = LocalBackend(policy=RequestPolicy(timeout=180, first_token_timeout=90))
    yield backend
    backend.close()


@pytest.mark.slow
def test_a_session_on_the_embedded_model_through_langchain(embedded, ready_index, monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.setenv("COACH_LLM_TEMPERATURE", "0")
    url = embedded.server.ensure()
    chat = ChatOpenAI(base_url=url, api_key="not-needed", model=embedded.model.alias,
                      max_retries=0)
    coach = Coach(llm=LangChainBackend(chat, policy=RequestPolicy(timeout=180,
                                                                  first_token_timeout=90)))
    assert coach.strategy == "full"
    sid, _ = coach.start_session(region="us")
    results = [coach.reply(sid, t) for t in (
        "I found out my girlfriend has been texting her ex every night for months.",
        "She says it meant nothing but I can't stop thinking about it.",
        "What can I actually say to her tomorrow without it turning into a fight?")]
    from_model = [r for r in results if r.backend == "langchain"]
    assert from_model, [(r.backend, r.reply) for r in results]
    for r in from_model:
        assert len(r.reply.split()) >= 8
        calls, out = r.timings["llm_calls"], r.timings["llm_tokens_out"]
        assert calls >= 1 and 0 < out <= 225 * calls  # the length limit reached the server
    coach.close()


@pytest.mark.slow
def test_the_local_backend_writes_full_replies_and_judges_through_langchain(embedded,
                                                                          ready_index):
    from coach.evals.judge import Judge

    coach = Coach(llm=embedded, strategy="full")
    sid, _ = coach.start_session()
    result = coach.reply(sid, "My husband lied about where he was last weekend and I feel sick.")
    assert result.reply
    judge = Judge(embedded, "local")
    got = judge.rate([], "My husband lied about where he was and I feel sick.",
                     "That sounds painful. It makes sense to feel shaken when a story "
                     "doesn't add up. What would help you feel steadier tonight?")
    assert set(got.get("scores", {})) == {"empathy", "reflection", "collaboration", "autonomy",
                                          "helpfulness"}, got
    coach.close()
