#!/usr/bin/env python3
"""Generate the synthetic part of the risk-classifier training set and assemble risk_train.jsonl.

Deterministic (seeded); re-run with:  python3 scripts/gen_risk_train.py

Output: coach/safety/data/risk_train.jsonl = risk_train_hand.jsonl (src "hand") followed by
generated lines (src "gen"). Generated sentences come from per-cell template sets; every template
is filled from independent slot lists (who, act, object, time, trigger...), optionally wrapped in
benign relationship context clauses, then passed through register transforms (lowercasing,
dropped apostrophes, texting abbreviations, typos, slang fillers, second-language phrasing).
Near-exact duplicates (same text ignoring case/punctuation) and any text that also appears in
evals/screening*.jsonl are dropped. evals/blind/ is never read.

Labelling policy lives in the brief (see docs); in short: category none <=> level none;
surveillance is always concern; medical_emergency always urgent; check_in only for
self_harm / abuse.
"""
from __future__ import annotations

import collections
import json
import random
import re
from pathlib import Path

SEED = 20240611
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "coach" / "safety" / "data"
HAND = DATA / "risk_train_hand.jsonl"
OUT = DATA / "risk_train.jsonl"
EVAL_FILES = [ROOT / "evals" / "screening.jsonl", ROOT / "evals" / "screening_holdout.jsonl"]

# ----------------------------------------------------------------------------------------------
# bindings: people whose pronouns must agree inside one sentence
# ----------------------------------------------------------------------------------------------
PARTNER_M = ["my husband", "my boyfriend", "my bf", "my partner", "my fiancé", "my hubby", "my man",
             "my baby's dad", "my husband", "my boyfriend"]
PARTNER_F = ["my wife", "my girlfriend", "my gf", "my partner", "my fiancée", "my missus", "my baby's mum",
             "my wife", "my girlfriend"]
EX_M = ["my ex", "my ex-boyfriend", "my ex-husband", "my ex bf", "the guy I broke up with"]
EX_F = ["my ex", "my ex-girlfriend", "my ex-wife", "my ex gf", "the woman I divorced"]
CHILDREN = [  # np, obj, poss, is, has
    ("my son", "him", "his", "is", "has"), ("my daughter", "her", "her", "is", "has"),
    ("my 4 year old", "him", "his", "is", "has"), ("my toddler", "her", "her", "is", "has"),
    ("the baby", "her", "her", "is", "has"), ("our baby", "him", "his", "is", "has"),
    ("my little girl", "her", "her", "is", "has"), ("my stepson", "him", "his", "is", "has"),
    ("my 9yo", "him", "his", "is", "has"), ("my teenage daughter", "her", "her", "is", "has"),
    ("my boy", "him", "his", "is", "has"), ("my 7 year old daughter", "her", "her", "is", "has"),
    ("the kids", "them", "their", "are", "have"), ("our kids", "them", "their", "are", "have"),
    ("my children", "them", "their", "are", "have"), ("my stepdaughter", "her", "her", "is", "has"),
    ("my 2 year old", "him", "his", "is", "has"), ("my 12 year old", "her", "her", "is", "has"),
]
TARGETS = [  # np, obj, poss
    ("him", "him", "his"), ("her", "her", "her"), ("my ex", "him", "his"),
    ("her new boyfriend", "him", "his"), ("the guy she cheated with", "him", "his"),
    ("the man my wife is seeing", "him", "his"), ("my wife", "her", "her"),
    ("my girlfriend", "her", "her"), ("my husband", "him", "his"), ("his new girlfriend", "her", "her"),
    ("the woman he cheated with", "her", "her"), ("my ex-wife", "her", "her"),
    ("her ex", "him", "his"), ("the guy from her work", "him", "his"), ("my boyfriend", "him", "his"),
]


def bind(rng: random.Random) -> dict:
    ctx = {}
    if rng.random() < 0.62:
        ctx.update(P=rng.choice(PARTNER_M), he="he", him="him", his="his", hes="he's", hed="he'd", hell="he'll")
    else:
        ctx.update(P=rng.choice(PARTNER_F), he="she", him="her", his="her", hes="she's", hed="she'd", hell="she'll")
    ctx["Pp"] = ctx["P"] + "'s"
    if rng.random() < 0.62:
        ctx.update(X=rng.choice(EX_M), xhe="he", xhim="him", xhis="his", xhes="he's")
    else:
        ctx.update(X=rng.choice(EX_F), xhe="she", xhim="her", xhis="her", xhes="she's")
    c = rng.choice(CHILDREN)
    ctx.update(C=c[0], cobj=c[1], cposs=c[2], cis=c[3], chas=c[4],
               cs="" if c[3] == "are" else "s",
               cpron={"him": "he", "her": "she", "them": "they"}[c[1]])
    t = rng.choice(TARGETS)
    ctx.update(T=t[0], tobj=t[1], tposs=t[2],
               Ts={"him": "he", "her": "she"}.get(t[0], t[0]), tsubj={"him": "he", "her": "she"}[t[1]])
    return ctx


# ----------------------------------------------------------------------------------------------
# shared slots
# ----------------------------------------------------------------------------------------------
S = {
    "n_years": ["two", "three", "five", "six", "eight", "ten", "12", "4", "15", "almost 7"],
    "t_fut": ["tonight", "later tonight", "tomorrow", "this weekend", "on friday", "after work",
              "when everyone's asleep", "once the kids are in bed", "before morning", "on sunday",
              "tomorrow morning", "after the hearing", "when {he} leaves for work", "in a few hours",
              "this evening", "on our anniversary", "at midnight", "as soon as I get home"],
    "t_recent": ["last night", "this morning", "yesterday", "an hour ago", "on saturday", "tonight",
                 "again last night", "earlier today", "a few days ago", "on the weekend", "just now",
                 "two nights ago", "after dinner", "this afternoon"],
    "t_now": ["right now", "as I'm typing this", "at the moment", "now", "rn", "as we speak"],
    "t_ongoing": ["all the time", "every week", "whenever {he} drinks", "most nights",
                  "again and again", "since we moved in together", "whenever we argue",
                  "when {hes} in a mood", "more and more lately", "every few days", "since the baby"],
    "t_past_long": ["years ago", "ten years ago", "when I was 19", "in my last relationship",
                    "back in my twenties", "before I met my husband", "a long time ago", "in 2015",
                    "about eight years ago", "when I was at uni"],
    "trigger": ["{he} left me for someone else", "I found the messages on {his} phone",
                "{he} told me {he} never loved me", "{he} moved out today", "{P} cheated again",
                "the divorce papers came", "{he} blocked me everywhere", "{hes} marrying someone else",
                "{he} said the baby isn't {his}", "{he} chose {his} ex over me",
                "she said she's in love with someone else", "I found out about the affair",
                "{he} ended it over text", "we broke up on saturday", "{he} won't answer my calls"],
    "since_trigger": ["since {he} left", "since the breakup", "since I found out about the affair",
                      "since the divorce", "ever since {he} cheated", "since we split",
                      "since {he} moved out", "after everything {he} did", "since finding those messages",
                      "lately", "for weeks now", "most days"],
    "rel_ctx_pre": [
        "We've been together {n_years} years.", "Things have been bad since I found out about the affair.",
        "{P} cheated on me last year and we tried to work on it.", "We had another fight about {his} ex.",
        "I know this app is about trust stuff.", "So we've been arguing about money for weeks.",
        "{he} says I'm too jealous and maybe I am.", "We're in couples counselling.",
        "I caught {him} lying again on Friday.", "We've got two kids and a mortgage together.",
        "It's been three months since the breakup.", "Sorry, long story short:",
        "I don't even know where to start.", "Background: we've been long distance for a year.",
        "We got engaged in the spring.", "{P} and I have been fighting non stop.",
        "Everyone thinks we're the perfect couple.", "I moved countries to be with {him}.",
        "Okay so.", "Ever since {his} birthday things have been off.", "We just had our first baby.",
        "I keep thinking about what {he} said.", "We've been on a break for two weeks.",
    ],
    "rel_ctx_post": [
        "I don't know what to do.", "I don't know who else to tell.", "Please help.",
        "Sorry this is a lot.", "We've been together since school.", "I haven't told anyone.",
        "I just needed to say it somewhere.", "My friends don't know.", "What do I do?",
        "I feel so stupid.", "Nobody would believe me.", "I can't think straight.",
        "Is this normal?", "I'm sorry for writing so much.", "We have kids together.",
    ],
}

# ----------------------------------------------------------------------------------------------
# cells: (category, level) -> quota, templates, local slots
# ----------------------------------------------------------------------------------------------
CELLS = []


def cell(cat, level, quota, templates, **local):
    CELLS.append(dict(cat=cat, level=level, quota=quota, templates=templates, local=local))


# ---------------- self_harm ----------------
cell("self_harm", "urgent", 85, [
    "{i_have} {pill_amt} {pills} {loc} and {im_going} to take {all_them} {t_fut}",
    "{i_have} {weapon_self} {weapon_loc} and {im_going} to use it on myself {t_fut}",
    "{im_at} {high_place} {t_now} and {im_going} to jump",
    "{ive_decided} to {end_it} {t_fut}. {finality}",
    "{wrote} {farewell} for {recipients}. {finality}",
    "{gave} {possession} to {recipient} {gone_reason}",
    "{method_question}, {for_me}",
    "{slang_intent} {t_fut} {slang_tail}",
    "{trigger}. {im_going} to {end_it} {t_fut}",
    "{ive_been} {stockpile} and {im_going} to {end_it} {t_fut}",
    "{prep_done}. {im_going} to {end_it} {t_fut}",
    "this is {goodbye_msg}. {i_have} {pill_amt} {pills} {loc}",
], i_have=["I have", "I've got", "ive got", "I'm holding", "got", "I'm sitting here with"],
   pill_amt=["all my", "a full bottle of", "two boxes of", "about 40", "a month's worth of", "every one of my",
             "a whole strip of", "a stash of", "three packs of", "the rest of my"],
   pills=["sleeping pills", "antidepressants", "painkillers", "paracetamol", "tablets", "oxycodone",
          "insulin", "sertraline", "codeine", "his heart pills", "my mum's meds", "anxiety meds"],
   loc=["in front of me", "on the nightstand", "in my bag", "lined up on the table", "in my hand",
        "next to the bed", "in the car", "in the bathroom with me", "on the kitchen counter"],
   all_them=["all of them", "them all", "the lot", "every single one", "all of it"],
   im_going=["I'm going", "I'm gonna try", "im going", "I am going", "I've decided I'm going", "I will try"],
   weapon_loc=["in my hand", "in my lap", "next to me", "in the drawer by the bed", "in my pocket", "in the car with me", "on the bed"],
   weapon_self=["a razor", "{his} gun", "a knife", "the rope", "a blade", "a loaded pistol", "the belt",
                "my dad's rifle", "a box cutter"],
   im_at=["I'm on", "I'm standing on", "im at", "I'm sitting on the edge of", "I just climbed up"],
   high_place=["the bridge", "the roof of my building", "the top of the car park", "the cliff path",
               "the balcony", "the railway bridge", "the overpass", "the ledge outside my window"],
   ive_decided=["I've decided", "I've made up my mind", "It's decided, I'm going", "I've planned",
                "I've picked the date and I'm going", "I've worked out how and I'm going", "I'm ready"],
   end_it=["kill myself", "end my life", "end it", "take my own life", "unalive myself", "end it all",
           "k*ll myself", "finish my life", "do it", "go through with it", "not be here anymore"],
   finality=["I've made up my mind.", "Nobody can talk me out of it.", "This is goodbye.",
             "I'm not scared anymore.", "It's decided.", "I just wanted someone to know.",
             "Don't try to stop me.", "I'm calm about it now.", "", "I'm sorry."],
   wrote=["I wrote", "I've written", "I finished", "I left", "I've put", "I typed up"],
   farewell=["goodbye letters", "a note", "my last messages", "a letter", "goodbye notes",
             "a suicide note", "farewell emails scheduled for tomorrow", "a message to be sent after"],
   recipients=["my mum and my sister", "the kids", "{him}", "everyone I love", "my best friend",
               "my parents", "{P}", "my brother", "the people at work"],
   gave=["I gave", "I've given", "I handed", "I gave away", "I've signed over"],
   possession=["my dog", "my cat", "my guitar", "my savings", "my jewellery", "my car keys",
               "my laptop", "all my clothes", "my bike", "my plants", "my record collection"],
   recipient=["my sister", "my neighbour", "a friend", "my brother", "my cousin", "the girl next door"],
   gone_reason=["because I won't be around after tonight", "since I won't need it after this weekend",
                "and told them it's theirs for good. I won't be here", "so it's looked after when I'm gone",
                "because I'm ending it soon", "— I'm not going to need any of it"],
   method_question=["what's the most painless way to die", "whats the quickest way to end it",
          "how many pills would it take to not wake up", "how high does a fall need to be to be sure",
          "which is less painful, pills or hanging", "how long does it take to bleed out",
          "what dose of my meds would be enough to die", "how much insulin would kill someone my size",
          "does carbon monoxide hurt", "whats the surest way to kill myself", "how do people unalive themselves painlessly"],
   for_me=["asking for me", "it's for me", "I mean for myself", "I need to know for tonight",
           "i want to do it soon", "I'm not asking for a story"],
   slang_intent=["gonna kms", "kms", "im gonna unalive myself", "im ending it", "gonna end it all",
                 "finna end it", "going to off myself", "gonna k*ll myself"],
   slang_tail=["fr", "not joking", "for real this time", "i mean it", "ive got the stuff ready",
               "nobody will notice", "no cap", "already planned it"],
   ive_been=["I've been", "ive been", "For weeks I've been", "I have been"],
   stockpile=["saving up my meds", "stockpiling pills", "hiding tablets in a sock",
              "collecting {his} painkillers", "saving my prescription"],
   prep_done=["My will is on the table", "I cancelled my phone contract and paid off my debts",
              "I've said goodbye to everyone without them knowing", "I deleted all my accounts",
              "I've fed the cat for a week", "Everything's sorted for the kids",
              "I told my sister where the important papers are", "I cleaned the whole flat and left the keys out"],
   goodbye_msg=["my last message", "goodbye", "the last thing I'll write", "my goodbye"],
)

cell("self_harm", "concern", 90, [
    "{passive_wish} {since_trigger}",
    "{burden}{no_plan_tail}",
    "I don't want to be here anymore{earnest}",
    "I {self_injury} {when_trig}",
    "I keep having {sui_thoughts} {since_trigger} but {no_plan}",
    "{q_normal} to want to die after {trigger_ger}?",
    "life without {lw} {not_worth}",
    "I {attempt_past} {t_past_long} and I'm scared {heading_back}",
    "{trigger}. {passive_wish2}",
    "{his_words} and {burden_lower}",
], passive_wish=["I wish I could go to sleep and not wake up", "some days I wish I was dead",
                 "I keep hoping I won't wake up", "I wish I'd never been born", "I want to die, honestly,",
                 "I'd be fine if I just didn't wake up", "I pray I don't wake up", "I keep wishing I was dead",
                 "I've been wanting to die", "I'd rather be dead than feel this"],
   burden=["everyone would be better off without me", "my kids would be better off without me",
           "{he} would be happier if I was dead", "nobody would miss me if I was gone",
           "I'm just a burden to everyone", "the world would be better without me in it",
           "my family would be relieved if I wasn't around"],
   burden_lower=["maybe {hes} right that everyone would be better off without me",
                 "I think the world would be fine without me", "I feel like I shouldn't exist"],
   no_plan_tail=["", ", I wouldn't do anything though", ". I'm not going to act on it", ", I just think it a lot",
                 ". it's not a plan, just a feeling", " and I believe it"],
   earnest=["", ", and I mean it", ". Not in a dramatic way", ". I'm serious", ", like at all",
            " and I don't know what to do with that", ". not on this earth"],
   self_injury=["cut my arms", "burn myself with a lighter", "scratch myself until I bleed",
                "hit my head against the wall", "punch myself", "bite my hands until they bruise",
                "started cutting again", "hurt myself on purpose", "starve myself to punish myself"],
   when_trig=["whenever we fight", "when {he} ignores me", "every time {he} goes out",
              "after {he} yells", "since {he} left", "when I see {his} ex's posts", "most nights"],
   sui_thoughts=["suicidal thoughts", "thoughts about killing myself", "thoughts of ending it",
                 "thoughts about dying", "dark thoughts about not being alive"],
   no_plan=["I don't have a plan", "I'd never act on them", "I'm not going to do anything",
            "I'm still going to work", "I haven't told anyone"],
   q_normal=["is it normal", "is it weird", "does anyone else feel like they want", "is it wrong"],
   trigger_ger=["your partner cheating", "finding out about an affair", "a divorce", "being dumped over text",
                "finding your husband on tinder", "a breakup"],
   lw=["him", "her", "{him}", "my wife", "my husband"],
   not_worth=["isn't worth living", "isn't worth it", "doesn't feel worth living", "is pointless, I'd rather not be alive"],
   attempt_past=["tried to kill myself", "overdosed", "attempted suicide", "made an attempt"],
   heading_back=["I'm heading back there", "the same thoughts are coming back", "I'll feel like that again",
                 "it's starting again since the breakup"],
   passive_wish2=["Part of me wants to just not exist anymore.", "I keep thinking I'd be better off dead.",
                  "I don't want to live like this, I'd rather not live at all.", "I want to disappear forever."],
   his_words=["{he} said I'm useless", "{he} told me I ruin everything", "{he} says I'm a waste of space",
              "{he} keeps saying I'm too much"],
)

cell("self_harm", "check_in", 95, [
    "{ambig}{tail}",
    "{trigger}. {ambig}",
    "{since_cap}, {ambig_low}",
    "{ambig}. {ambig2}",
    "{rel_pain}. {ambig}",
], ambig=["I can't keep doing this", "I just want everything to stop", "what's the point anymore",
          "I can't do this anymore", "I'm so tired of all of it", "I don't know how much more I can take",
          "nothing matters anymore", "I just want it all to be over", "I can't go on like this",
          "I'm at the end of my rope", "everything feels pointless", "I'm done with everything",
          "I can't cope anymore", "I don't see the point", "I have nothing left",
          "I just want the pain to stop", "I can't face another day like this", "there's no way out",
          "idk how to keep going", "I just want to give up", "I'm so empty", "why even bother anymore",
          "I'm not okay", "everything is too much"],
   ambig_low=["i can't keep doing this", "i just want everything to stop", "what's the point anymore",
              "nothing matters", "i'm running out of reasons to try", "i feel like giving up on everything",
              "i don't know how to keep going", "everything just feels dark"],
   ambig2=["I'm so tired", "I don't know what to do", "Nobody gets it", "I'm exhausted",
           "It's all too heavy", "I feel so alone", "It just hurts"],
   tail=["", ".", "...", " honestly", ", I really can't", ". I'm so tired", " tbh",
         ". not sure what I mean by that", ". everything hurts"],
   since_cap=["Since {he} left", "Since the affair", "Ever since the divorce", "After what {he} did",
              "Since we split", "Since I found out"],
   rel_pain=["{he} lied to me for two years", "{he} keeps going back to {his} ex",
             "we fight every single night", "{he} says {he} doesn't love me anymore",
             "I forgave {him} three times", "{he} moved out and took the dog"],
)

# ---------------- abuse ----------------
cell("abuse", "urgent", 90, [
    "{P} {choke} {t_recent}{choke_tail}",
    "{P} {weapon_act} {t_recent}{fear_tail}",
    "I'm {n_preg} pregnant and {P} {preg_hit}",
    "{P} {sex_coerce}",
    "{P} {kill_threat}",
    "{P} {serious_violence} {t_recent} and {fear_now}",
    "{P} {lock_in}",
    "{P} {img_threat} {img_cond}",
    "{X} {ex_urgent}",
    "{help_prefix}{P} {serious_violence} and {fear_now}",
], choke=["choked me", "strangled me", "put {his} hands around my neck", "grabbed me by the throat",
          "squeezed my neck until I couldn't breathe", "pinned me down by my throat",
          "held a pillow over my face", "choked me until I passed out", "had {his} hands on my throat"],
   choke_tail=["", " and I saw spots", ". my neck is bruised", " and said next time {he} won't stop",
               ". It's the second time", " and now it hurts to swallow", " and I blacked out for a second"],
   weapon_act=["pulled a knife on me", "held a knife to my throat", "pointed {his} gun at me",
               "threatened me with a hammer", "came at me with a broken bottle", "waved a knife at me",
               "put the gun on the table and told me to think carefully", "chased me with a kitchen knife"],
   fear_tail=["", " and I'm scared to go home", " and {hes} still in the house", ". I'm hiding in the car",
              " and said next time {hell} use it", ". I don't feel safe"],
   n_preg=["5 months", "six months", "8 weeks", "30 weeks", "4 months", "nearly 7 months", "very"],
   preg_hit=["kicked me in the stomach", "pushed me into the table", "punched my belly",
             "shoved me down the stairs", "hit me and I'm worried about the baby", "threw me against the wall"],
   sex_coerce=["forced me to have sex {t_recent}", "raped me {t_recent}", "keeps making me have sex when I say no",
               "had sex with me while I was asleep", "held me down when I said no",
               "says I owe {him} sex and doesn't stop when I cry", "pressures me into sex by threatening to throw me out",
               "made me sleep with {his} friend"],
   kill_threat=["said {hell} kill me if I leave", "texted me that I'm dead", "keeps saying {hell} end me",
                "said tonight {hes} going to get rid of me for good", "told me nobody would find my body",
                "threatened to kill me and then {him}self", "said {hed} slit my throat while I sleep",
                "says {hell} burn the house down with me in it"],
   serious_violence=["beat me", "punched me in the face", "hit me so hard I fell", "kicked me while I was on the floor",
                     "smashed my head against the wall", "beat me with a belt", "broke my nose",
                     "threw me down the stairs", "hit me with a lamp"],
   fear_now=["{hell} be home soon", "I'm scared to go back", "{hes} still in the house",
             "I'm hiding in the bathroom", "I think {hell} do it again tonight", "{hes} on {his} way back",
             "I'm terrified", "I can hear {him} downstairs", "I'm at a friend's but {he} knows where"],
   lock_in=["locked me in the bedroom and took my phone", "won't let me leave the flat and has the keys",
            "locked me in the house {t_recent}", "nailed the windows shut so I can't get out",
            "is blocking the door and won't let me out", "locks me in the basement when {he} goes out",
            "took the keys and locked me in, I'm typing from the old tablet"],
   img_threat=["says {hell} post my nudes", "threatened to send our sex video to my family",
               "says {hell} share my private photos", "keeps saying {hell} leak my pictures online",
               "said {hell} send the photos to my boss"],
   img_cond=["if I leave", "unless I come back", "unless I send more", "if I tell anyone",
             "if I don't do what {he} says", "if I go to the police", ""],
   ex_urgent=["is outside my door {t_now} and {xhes} trying the handle", "broke into my flat {t_recent}",
              "keeps saying {xhe}'ll kill me and my new partner", "followed my car and rammed it",
              "showed up at my work with a knife"],
   help_prefix=["please help, ", "I need help. ", "idk what to do. ", "help. ", ""],
)

cell("abuse", "concern", 130, [
    "{P} {hit_minor} {t_any}{ab_tail}",
    "{X} {stalk} {stalk_tail}",
    "{P} {control}",
    "{P} {tracks_me}",
    "{P} {isolate}",
    "I'm {afraid} of {P}{afraid_tail}",
    "{P} {threw} {object} at me {t_any}",
    "{rel_lead} {P} {control}",
], hit_minor=["slapped me", "shoved me", "pushed me into the wall", "kicked me", "hit me",
              "grabbed my arm so hard it bruised", "pinched me till it bruised", "twisted my wrist",
              "shoved me onto the bed", "spat on me", "bit me", "shook me by the shoulders"],
   t_any=["{t_recent}", "{t_ongoing}", "again", "during the fight", "when I asked about {his} phone", ""],
   ab_tail=["", " and then said sorry", " and said it was my fault", ". it's not the first time",
            ". I keep making excuses for {him}", " and acted like nothing happened", " in front of my friend"],
   stalk=["keeps turning up at my work", "waits outside my flat", "makes new accounts to message me",
          "follows me home", "calls my family to find out where I am", "drives past my house every night",
          "showed up at my new place", "keeps messaging my friends about me", "sits outside my gym"],
   stalk_tail=["even though I blocked {xhim}", "months after we split", "", "and I've moved twice",
               "and the police say they can't do anything", "every single week"],
   control=["takes all my wages and gives me an allowance", "won't let me have my own bank card",
            "keeps my passport locked away", "threatens to cancel my visa if I don't obey",
            "has my residence permit and won't give it back", "makes me hand over my phone every night",
            "checks my phone every night and I'm not allowed a passcode", "changed my passwords so I can't get in",
            "won't let me work", "makes me show receipts for everything", "took my car keys so I can't go out",
            "says {hell} get me deported if I leave", "put loans in my name without asking"],
   tracks_me=["put a tracker on my car", "installed an app on my phone to read my messages",
              "hid an airtag in my bag", "tracks my location and calls if I stop anywhere",
              "set up cameras in the house to watch me", "reads all my emails", "logs into my instagram to check my DMs",
              "makes me share my location and screenshots it", "listens to my calls"],
   isolate=["won't let me see my friends", "doesn't let me call my mum", "made me quit my job",
            "deleted my friends' numbers from my phone", "won't let me go out without {him}",
            "told my family I'm mentally ill so they'd stop calling", "won't let me go to my English class"],
   afraid=["scared", "terrified", "afraid", "really frightened", "so scared"],
   afraid_tail=[" because {he} hits me when {hes} angry", " since {he} shoved me last month",
                ", {he} throws things when I upset {him}", " and I don't know why I stay",
                ". {he} hurt me before"],
   threw=["threw", "hurled", "chucked"],
   object=["a mug", "a plate", "the remote", "a glass", "{his} phone", "a shoe", "a chair", "the laptop"],
   rel_lead=["It's not just the cheating.", "Besides the lying,", "I know couples argue, but",
             "People think we're happy but", "Since I moved here for {him},"],
)

cell("abuse", "check_in", 80, [
    "{P} gets {scary} when {he} {state}",
    "I have to watch what I say around {P}{tail_watch}",
    "I walk on eggshells around {P}{tail}",
    "{P} {intim} when we argue{tail}",
    "is it normal to feel scared when {P} {state}?",
    "I {cautious} so {he} doesn't {react}",
    "I'm kind of scared of {P} sometimes{tail}",
    "{rel_lead2} {he} {intim} and I {freeze}",
], scary=["scary", "really intense", "a bit frightening", "like a different person", "so scary",
          "kind of menacing", "really cold and scary"],
   state=["drinks", "has been drinking", "loses at football", "is stressed", "gets jealous",
          "has a bad day", "doesn't get {his} way", "comes home late"],
   tail_watch=["", " or {he} goes off", " or {he} gets weird", ". {he} hasn't hurt me though", " all the time"],
   tail=["", ". {he} hasn't hurt me though", ". is that normal?", " all the time",
         ". I don't know if I'm overreacting", " and I'm always on edge", ""],
   intim=["stands over me", "punches the wall", "slams doors and smashes things", "goes silent and stares at me",
          "gets right in my face", "follows me from room to room", "yells until I give in", "grips the steering wheel and speeds"],
   cautious=["hide what I spend", "text {him} where I am every hour", "delete my chats with friends",
             "rehearse what I'm going to say", "turn my phone face down", "don't mention my ex",
             "check {his} mood before I speak", "lie about where I've been"],
   react=["get angry", "go off", "explode", "get upset", "start questioning me", "go cold for days"],
   rel_lead2=["I don't know if this counts as anything.", "Probably nothing but", "It's hard to explain.",
              "Nothing physical has happened.", "We're fine most of the time but"],
   freeze=["freeze", "can't think", "just shut down", "start shaking", "go quiet"],
)

# ---------------- child_safety ----------------
cell("child_safety", "urgent", 105, [
    "{P} {hit_child} {ch_time}",
    "{P} {hit_child_past} {t_recent}",
    "{P} {take_threat}",
    "{P} {harm_threat}",
    "{C} {chas} {injury} after {ch_after} and says {he} did it",
    "{C} told me {P} {sexual}",
    "{P} {hit_child} and {C_now}",
    "{rel_lead3} {P} {hit_child_past} {t_recent}",
], hit_child=["hits {C}", "slaps {C}", "beats {C}", "kicks {C}", "shakes {C}", "throws {C} around",
              "punches {C}", "hits {C} with a belt", "grabs {C} by the neck", "burns {C} with cigarettes",
              "whips {C} with a cable", "drags {C} by the hair", "holds {C} under the bath water",
              "slams {C} against the wall", "smacks {C} in the face"],
   hit_child_past=["slapped {C}", "beat {C}", "kicked {C}", "shook {C}", "threw {C} across the room",
              "punched {C}", "hit {C} with a belt", "grabbed {C} by the neck", "burned {C} with a cigarette",
              "dragged {C} by the hair", "held {C} under the bath water", "smacked {C} so hard {cpron} fell"],
   ch_time=["every week", "when I'm at work", "whenever {he} drinks", "all the time", "and it's getting worse",
            "for crying", "almost every day", "when I'm not home", "as punishment"],
   take_threat=["says {hell} take the kids abroad and I'll never see them again",
                "threatened to snatch {C} from school {t_fut}", "says {hell} disappear with {C} if I leave",
                "packed a bag for {C} and says {hes} taking {cobj} tonight",
                "got {C} a passport behind my back and keeps saying {hes} leaving with {cobj}"],
   harm_threat=["said {hell} hurt {C} if I leave", "threatened to kill the kids and then {him}self",
                "said {hell} hurt {C} if I call the police", "says {C} will pay if I tell anyone",
                "threatened to throw {C} down the stairs"],
   injury=["bruises on {cposs} arms", "a black eye", "burn marks", "a swollen wrist", "belt marks on {cposs} legs",
           "finger marks on {cposs} neck", "a cut on {cposs} head"],
   ch_after=["a weekend with {P}", "{P} babysat", "staying at {Pp} place", "being alone with {P}"],
   sexual=["touches {cobj} at night", "makes {cobj} keep secrets about bath time", "gets into {cposs} bed when I'm out",
           "showed {cobj} porn and touched {cobj}", "takes photos of {cobj} undressed"],
   C_now=["{C} {cis} with {him} right now", "{hes} picking {cobj} up tomorrow", "I'm at work till late tonight",
          "{cpron} {cis} too scared to tell anyone", "{he} says {hell} do it again"],
   rel_lead3=["I'm trying to trust my new partner but", "I found out today that", "I don't know what to do,",
              "My ex doesn't know this but"],
)

cell("child_safety", "concern", 120, [
    "{P} {neglect}",
    "{C} {cis} {scared_w} of {P} and won't say why",
    "{P} {emotional}",
    "{P} {unsafe}",
    "{C} {comes_back} after {ch_after}",
    "{older} {messages} {teen} {msg_how}",
    "{P} {rough} {C} {rough_tail}",
], neglect=["leaves the kids home alone at night to go to the pub", "forgets to feed {C} when I'm at work",
            "doesn't change the baby all day", "drinks when {hes} supposed to be watching {C}",
            "leaves {C} in the car while {he} gambles", "doesn't take {C} to the doctor even when {cis} sick",
            "passes out drunk when {hes} looking after {C}", "leaves {C} with strangers to go out"],
   scared_w=["scared", "terrified", "frightened", "really nervous"],
   emotional=["screams at {C} until {cpron} {cis} in tears", "calls {C} fat and stupid every day",
              "humiliates {C} in front of people",
              "makes {C} stand in the corner for hours", "won't let {C} eat dinner as punishment",
              "locks {C} outside in the cold as punishment", "tells {C} nobody wants {cobj}"],
   unsafe=["drives drunk with the kids", "leaves {his} gun loaded where {C} can reach it",
           "smokes weed in the car with the baby", "takes {C} to parties with drugs",
           "lets {C} drink beer and thinks it's funny", "drives without car seats"],
   comes_back=["come{cs} back starving and dirty", "come{cs} home with bruises and say{cs} {cpron} fell",
               "won't talk", "{cis} wetting the bed again", "{cis} covered in nits and hungry",
               "{cis} scared to go back"],
   ch_after=["a weekend with {P}", "{P} babysat", "staying at {Pp} place", "a day alone with {P}", "visits with {P}"],
   teen=["my 13 year old", "my teenage daughter", "my 14 year old son", "my 12 year old", "my stepdaughter, she's 15,",
         "my 11 year old"],
   older=["an older man", "{Pp} friend", "a 25 year old", "{Pp} coworker", "a grown man from {Pp} gym"],
   messages=["messages", "keeps snapchatting", "sends gifts to", "is grooming"],
   msg_how=["late at night", "and tells {cobj} to keep it secret", "on instagram", "and asks for photos", ""],
   rough=["is really rough with", "throws", "yanks around", "pins down and tickles", "squeezes"],
   rough_tail=["when {he} plays and {C} end{cs} up crying", "and says {cpron} {cis} too sensitive",
               "and it's getting worse", ""],
)

# ---------------- harm_to_others ----------------
cell("harm_to_others", "urgent", 100, [
    "{im_going2} {hurt_act} {t_fut}",
    "I've got {weapon} {in_place} and I'm waiting for {T}",
    "I know where {Ts} {lives}. {im_going2} {hurt_act}",
    "I bought {weapon2} {t_recent} to {hurt_act_inf}",
    "{rage_lead} {im_going2} {hurt_act} {t_fut}",
    "I'm on my way to {tposs} place {t_now} to {hurt_act_inf}",
], im_going2=["I'm going to", "I'm gonna", "im going to", "I will", "I've decided to", "I swear I'm going to"],
   hurt_act=["stab {T}", "kill {T}", "beat {T} until {tsubj} can't stand", "run {T} over", "put {T} in hospital",
             "burn {tposs} house down", "break {tposs} legs", "shoot {T}", "smash {tposs} face in",
             "poison {T}", "make {T} bleed", "strangle {T}"],
   hurt_act_inf=["stab {T}", "kill {T}", "hurt {T}", "beat {T} up", "shoot {T}", "set {tposs} car on fire with {tobj} in it"],
   weapon=["a knife", "my dad's gun", "a bat", "a crowbar", "a hammer", "petrol", "a machete"],
   weapon2=["a gun", "a knife", "rat poison", "petrol", "a taser", "brass knuckles"],
   in_place=["in my car", "in my jacket", "in the boot", "under my seat", "in my bag"],
   lives=["lives", "works", "parks", "drinks on fridays", "goes to the gym"],
   rage_lead=["She cheated on me with him.", "I found the messages.", "{P} lied to me for a year.",
              "I'm done talking.", "Nobody humiliates me like that.", "I can't take it anymore."],
)

cell("harm_to_others", "concern", 100, [
    "I {keep_fant} {hurting}",
    "I {hit_past} {my_partner} {t_recent} and {remorse}",
    "I'm scared I'll {hurt_inf} {T} if {cond}",
    "I want {T} to {suffer}",
    "{rage_lead} I {keep_fant} {hurting}",
    "I've started {creep}{creep_tail}",
], keep_fant=["keep fantasising about", "can't stop imagining", "daydream about", "keep picturing",
              "think all the time about", "lie awake thinking about"],
   hurting=["hurting {T}", "beating {T} up", "breaking {tposs} jaw", "running {T} over", "choking {T}",
            "making {T} bleed", "smashing {tposs} face in", "pushing {T} down the stairs", "{T} in pain"],
   hit_past=["slapped", "hit", "shoved", "choked", "pushed", "kicked", "punched", "threw a glass at"],
   my_partner=["my girlfriend", "my wife", "my boyfriend", "my husband", "my partner", "her", "him"],
   remorse=["I'm scared I'll do it again", "I hate myself", "I don't know how to stop",
            "now {hes} scared of me", "I need help controlling it", "it keeps getting worse"],
   hurt_inf=["really hurt", "hit", "seriously hurt", "snap and hurt", "lose it and hurt"],
   cond=["I see them together", "{he} lies again", "{he} says that again", "I run into {tobj}",
         "{he} leaves", "I find another message"],
   suffer=["suffer physically", "feel real pain", "end up in hospital", "hurt the way I hurt, physically", "bleed"],
   rage_lead=["Ever since the affair came out", "After what {he} did", "I'm not a violent person but",
              "I know it's wrong but", "Honestly,"],
   creep=["following {T} around", "watching {tposs} house at night", "waiting outside {tposs} work",
          "keeping a bat in the car for when I see {T}"],
   creep_tail=["", " and I don't know what I'll do", " and I keep thinking about hurting {tobj}", ""],
)

# ---------------- surveillance ----------------
cell("surveillance", "concern", 225, [
    "{how_q2} {surv_goal} {without}",
    "{how_q2} {surv_goal_P} {without}",
    "{im_going3} {surv_act} {t_fut}",
    "what's the best {device_where}",
    "{Pp} password is probably {guess}, how do I get in without {him} knowing",
    "I've been {surv_ongoing} for {duration} and {surv_more}",
    "{rel_lead4} {im_going3} {surv_act} {t_fut}",
    "is there an app that lets me {surv_goal} {without}",
    "{rel_lead4} {how_q2} {surv_goal} {without}",
], how_q2=["how do I", "how can I", "is there a way to", "what's the easiest way to", "can you tell me how to",
           "any tips to", "best way to", "help me", "how would I", "is it possible to"],
   surv_goal=["read {his} texts", "see who {hes} messaging", "get into {his} whatsapp", "track {his} location",
              "see {his} deleted messages", "log into {his} instagram", "listen to {his} calls",
              "see {his} snapchats", "unlock {his} phone", "get {his} icloud backups", "see {his} search history",
              "read {his} emails", "clone {his} phone", "check {his} tinder", "see {his} location history"],
   surv_goal_P=["read {Pp} texts", "track {Pp} phone", "see {Pp} DMs", "get into {Pp} email",
                "put a spy app on {Pp} phone", "see {Pp} messages on my laptop", "hack {Pp} facebook",
                "hear what {P} says on the phone"],
   without=["without {him} knowing", "secretly", "without {him} finding out", "so {he} doesn't notice",
            "", "behind {his} back", "while {hes} asleep", "without an alert going off", "remotely"],
   im_going3=["I'm going to", "I'm gonna", "I want to", "I'm planning to", "I'm thinking I'll", "im gonna"],
   surv_act=["go through {his} phone while {he} sleeps", "put a tracker on {his} car", "hide a camera in the {room}",
             "install a spy app on {his} phone", "forward {his} messages to my number",
             "try to guess {his} passcode", "use {his} fingerprint while {hes} asleep to unlock {his} phone",
             "hide an airtag in {his} bag", "record {his} calls", "set up a fake account to test {him}",
             "read {his} diary", "follow {him} after work", "hide my old phone in {his} car"],
   room=["bedroom", "living room", "car", "spare room", "kitchen", "office"],
   device_where=["GPS tracker to hide in {Pp} car", "tracker to stick under {his} car seat", "tracking device to put in {his} gym bag",
                 "spy app to put on {his} phone without {him} seeing", "hidden camera for the bedroom so I can catch {him}",
                 "keylogger to install on {Pp} laptop", "airtag alternative to hide in {Pp} purse", "voice recorder to plant in {his} truck",
                 "way to hide a tracker on {his} bike", "nanny cam to watch {P} while I'm at work"],
   guess=["{his} birthday", "our anniversary", "{his} dog's name", "{his} old pin", "1234 something"],
   surv_ongoing=["secretly reading {his} messages", "checking {his} phone while {he} sleeps",
                 "logging into {his} email", "tracking {his} phone without {him} knowing",
                 "watching {his} location on an account {he} forgot {he} shared"],
   duration=["weeks", "a month", "a few days", "ages", "months"],
   surv_more=["I want to see the deleted ones too", "now I want access to {his} whatsapp",
              "I need to know how to do it without getting caught", "I want to get a tracker as well"],
   rel_lead4=["I'm sure {hes} cheating.", "{he} changed {his} passcode.", "Something is off with {him}.",
              "{he} hides {his} screen.", "{he} lied about friday.", "I need proof.", "My gut says {hes} lying."],
)

# ---------------- medical_emergency ----------------
cell("medical_emergency", "urgent", 150, [
    "I {took} {od_amt} {drug} {od_time} and {sym1}",
    "{P} {took3} {od_amt} {drug} {od_time} and {sym3}",
    "{P} {collapsed} and {unresp}",
    "{bleed}",
    "{P} {chest} and {extra}",
    "I've got {my_chest} and {extra1}",
    "{Pp} face {stroke}",
    "{P} {breath}",
    "{rel_lead5} {P} {collapsed} and {unresp}",
    "{rel_lead5} I {took} {od_amt} {drug} {od_time} and {sym1}",
    "please help, {P} {emerg_misc}",
], took=["took", "swallowed", "have taken", "just took", "downed"],
   took3=["took", "swallowed", "has taken", "downed"],
   od_amt=["all my", "a whole box of", "about 30", "a full bottle of", "two strips of", "way too many",
           "a handful of", "all of {his}", "20 of my"],
   drug=["sleeping pills", "paracetamol", "antidepressants", "painkillers", "tablets", "insulin", "ibuprofen",
         "codeine", "pills", "anxiety meds", "tramadol"],
   od_time=["an hour ago", "last night", "20 minutes ago", "a few hours ago", "earlier", "just now", "after we fought"],
   sym1=["I feel really sick", "my heart is racing", "I can't stop shaking", "I'm so drowsy", "my ears are ringing",
         "I keep throwing up", "I can't feel my legs", "I'm scared now", "my vision is blurry"],
   sym3=["{he} won't wake up", "{hes} throwing up", "{hes} barely breathing", "{hes} slurring",
         "{hes} not making sense", "{he} keeps passing out"],
   collapsed=["collapsed", "passed out", "fell and hit {his} head", "is on the floor", "fainted", "went limp"],
   unresp=["isn't responding", "won't wake up", "isn't breathing properly", "{his} lips are blue",
           "I can't find a pulse", "{hes} making gurgling noises", "{hes} cold"],
   bleed=["I went too deep cutting and the bleeding won't stop", "there's blood everywhere and it won't stop",
          "{P} is bleeding heavily from {his} head", "{P} stabbed me and I'm bleeding a lot",
          "I'm pregnant and bleeding heavily", "the cut on my wrist is gushing through the towel",
          "{P} cut {his} wrists and there's so much blood", "my arm is bleeding through three bandages"],
   chest=["is clutching {his} chest", "has crushing chest pain", "says {his} chest is tight", "has pain going down {his} arm"],
   extra=["is sweating and grey", "can't breathe properly", "is about to pass out", "{his} jaw hurts too"],
   my_chest=["crushing chest pain", "pain in my chest and left arm", "a tight chest", "chest pain spreading to my jaw"],
   extra1=["I'm sweating and dizzy", "I can't breathe", "I feel like I'm going to pass out", "my heart is all over the place"],
   stroke=["is drooping on one side and {his} speech is slurred", "went droopy and {he} can't lift {his} arm",
           "looks lopsided and {hes} confused"],
   breath=["is having a seizure and won't stop shaking", "can't breathe, {his} throat is swelling",
           "is choking and can't breathe", "is breathing really slowly and won't open {his} eyes",
           "hit {his} head and now {hes} confused and vomiting"],
   rel_lead5=["We had a huge fight.", "After the argument", "Sorry I know this is for relationship stuff.",
              "I didn't know who else to tell.", "{he} found out about the affair and"],
   emerg_misc=["took something at the party and {hes} burning up and shaking", "drank bleach",
               "overdosed and {hes} blue", "is unconscious and there's an empty bottle next to {him}"],
)

# ---------------- none: plain relationship-trust talk (most traffic) ----------------
cell("none", "none", 300, [
    "{P} {breach} {breach_time}. {trust_q}",
    "I found out {P} {breach}. {trust_q}",
    "{P} {breach} and {feel}. {trust_q}",
    "{trust_q_cap} {P} {breach} {breach_time}",
    "{feel_cap} since {P} {breach}",
    "{breach_time_cap} {P} {breach} and now {aftermath}",
], breach=["cheated on me", "lied about where {he} was", "has been texting {his} ex", "hid {his} credit card debt",
           "was still on dating apps", "kissed someone at a work party", "had an emotional affair",
           "sent flirty messages to a coworker", "lied about {his} salary", "went to see {his} ex behind my back",
           "deleted messages before I could see them", "lied about having a drink with {his} boss",
           "has a secret instagram account", "spent our holiday money without telling me",
           "told me {he} was at the gym but {he} wasn't", "slept with someone while we were on a break",
           "keeps lying about small things", "hid that {he} still talks to {his} ex-wife",
           "was messaging someone on snapchat at 2am", "lied about {his} past relationships"],
   breach_time=["last month", "a year ago", "at the start of our relationship", "twice now", "on our holiday",
                "over christmas", "for months", "recently", "while I was pregnant", "years ago"],
   breach_time_cap=["Last month", "A year ago", "Over the summer", "Twice now", "Recently", "Before the wedding"],
   trust_q=["How do I trust {him} again?", "Should I forgive {him}?", "Is it worth staying?", "How do we rebuild trust?",
            "Am I overreacting?", "What should I say to {him}?", "How do I stop thinking about it?",
            "Can trust ever come back after this?", "How do I bring it up without a fight?",
            "Do people actually get past this?", "What questions should I ask?", "Is counselling worth it?",
            "How do I know if {hes} telling the truth now?", "Where do I even start?"],
   trust_q_cap=["How do I forgive", "I don't know if I can stay now that", "How do I move on when",
                "How do I stop obsessing over the fact that", "Is it normal to still feel sick knowing that"],
   feel=["I feel so betrayed", "I can't stop crying", "I feel stupid for not seeing it", "I'm so angry",
         "I feel like I don't know {him}", "my heart is broken", "I feel humiliated", "I can't sleep"],
   feel_cap=["I've felt so insecure", "I haven't trusted anything {he} says", "I can't stop checking {his} face for lies",
             "Everything feels fake", "I keep replaying every conversation", "I've lost my appetite"],
   aftermath=["{he} wants me to just get over it", "{hes} being super honest and open", "we're in counselling",
              "{he} says it'll never happen again", "I don't know what's true", "{he} showed me everything on {his} phone",
              "we're trying to rebuild", "I keep bringing it up in every fight", "{he} gets defensive when I ask"],
)

cell("none", "none", 120, [
    "I get {jealous} when {P} {jtrigger}{jtail}",
    "Is it normal to feel {jealous} when {P} {jtrigger}?",
    "I'm {jealous} of {jobj} and I know it's irrational",
    "how do I stop being so {jealous2}{jtail}",
    "{P} says I'm too {jealous2} because I {jbehav}",
], jealous=["jealous", "insecure", "anxious", "so jealous", "weird", "paranoid", "really insecure"],
   jealous2=["jealous", "insecure", "clingy", "needy", "suspicious", "controlling"],
   jtrigger=["talks to {his} ex", "likes other people's photos", "goes out with {his} coworkers",
             "texts {his} best friend", "mentions {his} ex", "goes to the gym", "doesn't text back for hours",
             "follows models on instagram", "goes on work trips", "spends time with {his} friends without me"],
   jtail=["", ". I don't want to be like this", " and I hate it", ". how do I stop?", " in my relationship",
          ". my last partner cheated so maybe that's why", ". {he} hasn't done anything wrong"],
   jobj=["{his} ex", "{his} female best friend", "{his} coworker", "the girl {he} sits next to at work",
         "{his} ex-husband", "everyone {he} talks to"],
   jbehav=["ask who {hes} texting", "ask a lot of questions", "need reassurance all the time", "get upset about {his} ex",
           "sulk when {he} goes out"],
)

cell("none", "none", 85, [
    "I {wbreach} and {wregret}. {wq}",
    "{wq_cap} after I {wbreach}?",
], wbreach=["cheated on {P}", "lied to {P} about money", "kissed my ex", "hid my debt from {P}",
            "had an emotional affair", "lied about where I was", "was on tinder while we were together",
            "read {Pp} diary once", "lied about smoking", "sent flirty texts to someone at work"],
   wregret=["I regret it so much", "I want to make it right", "{he} found out", "I told {him} myself",
            "I feel disgusting", "now {he} doesn't trust me"],
   wq=["How do I rebuild trust?", "How do I show {him} I've changed?", "What do I say?", "Can we come back from this?",
       "Should I tell {him} everything?", "How long will it take?"],
   wq_cap=["How do I earn back {Pp} trust", "How do I apologise properly", "Is it possible to be forgiven",
           "What can I do to make {him} feel safe again"],
)

cell("none", "none", 100, [
    "we {counsel} {ctime} and {coutcome}",
    "{forgive}",
    "{P} and I {counsel} {ctime}. {cq}",
    "my therapist says {tsays}",
], counsel=["started couples counselling", "went to our first therapy session", "have been seeing a counsellor",
            "did a relationship workshop", "started weekly check-ins", "read a book on trust together"],
   ctime=["last month", "this week", "for a year", "since the affair", "recently", "on tuesday"],
   coutcome=["it's slowly helping", "it was awkward but good", "I cried the whole time", "we talk more now",
             "{he} opened up for the first time", "we argued in the car after", "I feel hopeful"],
   cq=["What should we work on first?", "How do we keep it going at home?", "Is it normal to feel worse at first?",
       "What if {he} won't open up?", "How do I talk about my trust issues there?"],
   forgive=["I want to forgive {P} but I keep picturing them together", "I forgave {him} but the trust isn't back yet",
            "how do you forgive someone who keeps lying", "I think I'm ready to forgive {him}",
            "forgiving {him} feels like letting {him} off the hook", "{P} forgave me and I don't feel I deserve it",
            "How do I stop bringing up the past after I said I forgave {him}?",
            "I said I forgive {him} but I still check {his} face for lies"],
   tsays=["my trust issues come from my childhood", "I need to set boundaries with {P}",
          "I should say how I feel instead of testing {him}", "my jealousy is about fear of abandonment",
          "I should stop checking {his} socials", "we need to rebuild trust slowly"],
)

# ---------------- none: hard negatives that share vocabulary with risky cells ----------------
cell("none", "none", 140, [
    "{idiom}{joke_tail}",
    "{P} {idiom_p}{joke_tail}",
    "{idiom_cause}{joke_tail}",
], idiom=["this breakup is killing me", "I could strangle {him} for {minor}", "I'm dead, {he} {funny}",
          "I want to die of embarrassment, {funny_me}", "I'd kill for a pizza right now", "kms {he} {funny}",
          "{hell} kill me when {he} sees {mishap}", "{hes} going to murder me, I {minor_me}",
          "I nearly died laughing when {he} {funny}", "my heart stopped when {he} {cute}",
          "I could scream, {he} {minor_third} again", "I'm gonna kill {him} for {minor}",
          "ugh i want to throttle {him}, {he} {minor_third} again", "I'm literally dying, {he} {funny}",
          "this wedding planning is going to be the death of me", "{his} cooking is going to kill me one day",
          "I'm so done, {he} {minor_third} again", "I could murder {him} right now, {he} {minor_third}"],
   idiom_p=["is killing me with these mixed signals", "is driving me insane", "is going to be the death of me",
            "nearly gave me a heart attack, {he} {cute}", "murdered that song at karaoke",
            "slays every outfit", "is dead to me until {he} apologises for {minor}",
            "is going to kill me when {he} finds out I {minor_me}", "knocked me dead with that dress"],
   idiom_cause=["this commute is slowly killing me", "my feet are killing me after the wedding",
                "I'm dying to meet {his} parents", "I'm dead tired after our date", "we killed it at the pub quiz",
                "I'll die if {he} sees my old photos", "I'm going to destroy {him} at mario kart"],
   minor=["eating my leftovers", "leaving {his} socks everywhere", "spoiling the finale", "forgetting the milk",
          "telling my mum about the proposal", "snoring all night", "using my toothbrush"],
   minor_me=["dented the car", "lost the ring", "spent too much on shoes", "forgot {his} mum's birthday",
             "ate the last slice", "broke {his} favourite mug"],
   minor_third=["left the milk out", "forgot the bins", "ate my chocolate", "was late", "didn't reply"],
   funny=["texted {his} mum instead of me", "wore the same shirt as me", "fell off the chair",
          "sent me a meme at 3am", "tried to cook and set the alarm off"],
   funny_me=["I called {him} by my ex's name", "I tripped on our date", "I sent that text to {his} brother"],
   cute=["proposed", "jumped out of the wardrobe", "said I love you", "surprised me at work"],
   mishap=["the scratch on the car", "the bill", "what I did to {his} shirt", "I ate {his} birthday cake"],
   joke_tail=["", " lol", " haha", " 😂", " (joking obviously)", " lmao", ".", " ugh", " but I love {him}"],
)

cell("none", "none", 65, [
    "{we_watched} {media} where {plot} and {mreact}",
    "{media_cap} {plot2}, {mq}",
    "{read_listen} {media2} where {plot} and {mreact}",
], we_watched=["we watched", "I watched", "we binged", "my wife and I watched", "I just finished", "we saw"],
   media=["a film", "a series", "a documentary", "a thriller", "an episode of a show", "a crime drama"],
   plot=["the husband tracks his wife's phone", "she poisons her cheating boyfriend", "a guy hides cameras in his girlfriend's flat",
         "the wife fakes her death", "he strangles her in the last episode", "the girlfriend overdoses after the breakup",
         "a man stalks his ex", "the couple hide a body", "someone reads their partner's texts to catch an affair",
         "a woman stabs her husband in self defence"],
   mreact=["it really creeped me out", "now I'm side-eyeing my husband haha", "we talked about it all night",
           "it made me grateful for us", "I couldn't sleep after", "I cried", "it felt too real"],
   read_listen=["I'm reading", "we listened to", "I just read", "my husband and I are listening to"],
   media2=["a novel", "a true crime podcast", "an audiobook", "a memoir", "a thriller"],
   media_cap=["In the book I'm reading", "In the movie last night", "In my favourite podcast", "In the game we play together",
              "In the song he dedicated to me", "In the show we're watching"],
   plot2=["the main character kills her husband", "the boyfriend spies on her phone", "he dies for her",
          "she says she'll die without him", "they get revenge on her ex"],
   mq=["is that normal to enjoy?", "it was so dramatic", "we laughed at how unrealistic it was",
       "is it weird it made me think of us?", "it got me thinking about trust"],
)

cell("none", "none", 90, [
    "{past_abuse} {t_past_long}. {resolved_abuse}",
    "{past_self} {t_past_long}. {resolved_self}",
    "{past_snoop} {t_past_long}. {resolved_snoop}",
    "{resolved_lead} {past_abuse} {t_past_long}, {resolved2}",
    "{resolved_lead} {past_self} {t_past_long}, {resolved2}",
], past_abuse=["my ex used to hit me", "my first husband controlled all my money", "I was in an abusive relationship",
               "my ex stalked me", "my ex choked me once", "my ex-wife used to throw things at me", "my ex kept my passport"],
   resolved_abuse=["I've been safe for years and I'm in a healthy relationship now", "it's over and I'm okay, I just wanted to give context",
                   "I'm happy now with someone kind", "I left and I've done a lot of healing since",
                   "now I'm trying to learn to trust my new partner", "my partner knows and is very supportive"],
   past_self=["I tried to kill myself", "I used to self-harm", "I overdosed once", "I had really dark thoughts",
              "I was suicidal for a while", "I used to cut"],
   resolved_self=["I'm in a really good place now", "therapy helped a lot and it's behind me", "I don't feel like that anymore",
                  "I've been well for a long time", "my partner knows and is very supportive"],
   past_snoop=["I used to go through my ex's phone every night", "I once put a tracker on my ex's car", "I used to read my ex's emails"],
   resolved_snoop=["I'm ashamed of it and I'd never do it again", "I got help for it and I don't do that anymore",
                   "I've worked on it in therapy and I trust my partner now"],
   resolved_lead=["Just for context,", "It might help to know", "Before I ask my question:", "Some background:"],
   resolved2=["but I've recovered and I'm doing well", "it's all in the past now", "I'm safe now",
              "and now I have trouble trusting anyone new", "and my new boyfriend is really patient with me"],
)

cell("none", "none", 75, [
    "we {agreed} {share} {sreason}",
    "{P} and I {agreed} {share}{sreason2}",
    "{P} {volunteer}",
    "is it okay to ask {P} to {open_ask}?",
], agreed=["both agreed to", "decided together to", "chose to", "are happy to", "talked it through and agreed to"],
   share=["share locations on life360", "share our phone passcodes", "have a shared calendar", "use a joint bank account",
          "share our locations on find my", "keep each other's passwords in a shared vault", "have open phones",
          "put airtags in each other's luggage"],
   sreason=["because we both commute late", "after the affair, and it helps", "because it's easier", "for safety on night shifts",
            "and it works for us", "while we rebuild trust, which was {his} idea", "for the trip"],
   sreason2=["", " and neither of us minds", " and it's been fine", ", it was mutual"],
   volunteer=["showed me {his} phone without me asking", "gave me {his} password to help rebuild trust",
              "turned on location sharing for me because I walk home late", "offered to show me {his} messages",
              "asked before adding me to find my and I said yes", "lets me see {his} phone whenever I'm anxious, we talked about it"],
   open_ask=["share {his} location", "show me {his} phone", "be more open about who {hes} texting", "stop deleting {his} messages",
             "tell me when {hes} seeing {his} ex"],
)

cell("none", "none", 80, [
    "{resist}",
    "how do I {own_task}?",
    "{tempted}, {but_resist}",
], resist=["I'm trying not to look through {his} phone", "I don't want to spy on {him}, I want {him} to tell me the truth",
           "I want to stop checking {his} location so much", "I caught myself wanting to snoop and talked to my friend instead",
           "I asked {him} directly who {he} was texting and {he} told me", "I'd like to trust {him} without checking up on {him}",
           "I saw a notification on {his} phone by accident and now I can't stop thinking about it",
           "I used to check {his} phone but I stopped, it was making me miserable"],
   own_task=["reset my own icloud password", "stop my ex from seeing my location", "find my lost phone",
             "set up parental controls on my kid's tablet", "share my location with {P}", "recover my own old instagram",
             "turn off location sharing with my ex", "check if there's a tracker on my own car", "block my ex on whatsapp",
             "talk to {P} about phone privacy"],
   tempted=["I really want to check {his} phone", "part of me wants to read {his} messages", "I'm tempted to look at {his} location",
            "my friend told me to install an app on {his} phone"],
   but_resist=["but I know it would make things worse", "but I'm not going to", "but I'd rather ask {him}",
               "but that's not who I want to be", "how do I resist?"],
)

cell("none", "none", 95, [
    "{twin}",
    "{twin_lead} {twin}",
], twin=["I'm giving away my old furniture because we're moving in together", "I wrote {P} a letter for our anniversary",
         "I said goodbye to my ex for the last time and it felt good", "tonight's the night, I'm finally asking {him} to marry me",
         "I bought rope for the camping trip", "I can't keep doing long distance, one of us has to move",
         "what's the point of arguing about the dishes", "I just want the fighting to stop, we need a holiday",
         "I'm done with dating apps", "I don't want to be here anymore, this town reminds me of {him}, I'm moving",
         "I've made up my mind, I'm leaving {him} this weekend", "I gave all {his} stuff to charity after the breakup",
         "I've planned everything for friday, {he} has no idea about the surprise party", "I'm ending my marriage and I feel relieved",
         "I'm so tired of {his} excuses", "I can't take {his} lateness anymore", "I feel like giving up on dating",
         "I want out of this relationship", "I'm going to break up with {him} tonight", "I'm so over {his} mind games",
         "we went to a shooting range on a date", "{he} gave me a knife set for christmas", "I'm disappearing to my mum's for the weekend",
         "I'm heartbroken but I'm not suicidal, just sad", "I cried all night but I'm okay", "I'm scared of losing {him}, not scared of {him}",
         "I'm drowning in work and {he} doesn't notice", "{he} took my car keys because I'd had too much wine, fair enough",
         "I grabbed {his} arm to stop {him} walking into traffic", "we had a screaming match but nobody touched anybody",
         "I'm so angry I went for a run instead of texting {him}", "I threw {his} hoodie in the bin, felt great",
         "part of me wants revenge but I'd never act on it", "I want to hurt {him} the way {he} hurt me, emotionally, but I won't",
         "{he} gets grumpy when {hes} hungry", "I have to watch what I say around {his} mum, she's so sensitive",
         "I walk on eggshells around my boss, not {P}", "{he} yells at the football but {hes} gentle with me",
         "I'm afraid {hell} leave me", "I feel empty since we split but I'm seeing friends and eating"],
   twin_lead=["Honestly,", "So,", "Update:", "ngl", "Random but", "Okay so", "Not gonna lie,"],
)

cell("none", "none", 45, [
    "{kid_benign}",
    "{C} {kid_event}",
], kid_benign=["{P} is great with {C}", "{C} adore{cs} {his} stepdad", "we argue about screen time for {C}",
               "{P} is strict about bedtime but fair", "I'm worried the divorce will upset {C}",
               "{Pp} mum babysits and spoils {C}", "how do we co-parent {C} after the breakup?",
               "{P} wants to give {C} a phone and I think it's too early"],
   kid_event=["fell off {cposs} bike and needed stitches but {cis} fine", "had a meltdown at the supermarket",
              "got a black eye at football practice, looks worse than it is", "cried when {P} left after the visit",
              "bit another kid at nursery", "won't sleep in {cposs} own bed", "{chas} a fever and we're both exhausted"],
)

cell("none", "none", 40, [
    "{med_benign}",
], med_benign=["{P} is a paramedic and had a rough shift", "{P} is a nurse and talks about overdoses at work",
               "I took two paracetamol for my headache after the argument", "I'm bleeding money on this wedding",
               "my chest feels tight with stress before the wedding", "I had a panic attack after the fight but I calmed down",
               "{P} had a heart attack two years ago and is fully recovered", "I cut my finger chopping onions while we argued",
               "{P} fainted at the sight of blood when I gave birth, we laugh about it now", "I take my antidepressants every morning",
               "my doctor changed my medication and I feel better", "{P} has the flu and I'm nursing {him}",
               "my heart aches when I see our old photos", "I've been getting tension headaches since the breakup",
               "{P} is a surgeon and came home talking about a patient who bled out", "{P} choked on a crisp and we both laughed"],
)

cell("none", "none", 35, [
    "{vent}",
], vent=["I'm furious at {P} but I'd never hurt {him}", "I could scream, I'm so angry at {him}",
         "I hate {him} right now but I'd never do anything", "I feel like punching a pillow when {he} talks down to me",
         "I slammed the door when I left, not my finest moment", "I yelled at {P} and then apologised",
         "I want to key {his} car but obviously I won't", "{P} makes me so mad I have to go for a walk",
         "I hope {his} new girlfriend dumps {him} lol, karma", "I fantasise about {him} realising what {he} lost",
         "the best revenge is living well, right?", "I threw a cushion at the wall, nowhere near {him}",
         "I'm so angry at {him} I can't think", "I want {him} to regret leaving me"],
)

# ----------------------------------------------------------------------------------------------
# engine
# ----------------------------------------------------------------------------------------------
SLOT_RE = re.compile(r"\{(\w+)\}")


def expand(template: str, ctx: dict, local: dict, rng: random.Random, depth: int = 0) -> str:
    if depth > 8:
        raise RuntimeError(f"slot recursion too deep in {template!r}")

    def repl(m):
        name = m.group(1)
        if name in ctx:
            return ctx[name]
        opts = local.get(name) or S.get(name)
        if opts is None:
            raise KeyError(f"unknown slot {name!r} in {template!r}")
        return expand(rng.choice(opts), ctx, local, rng, depth + 1)

    return SLOT_RE.sub(repl, template)


def tidy(s: str) -> str:
    s = s.replace("...", "\u2026")
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\s+([,.?!])", r"\1", s)
    s = re.sub(r"([.?!])\s*\.", r"\1", s)
    s = re.sub(r",\s*,", ",", s)
    s = re.sub(r"^[,.\s]+", "", s)
    s = re.sub(r"([?!])\.", r"\1", s)
    s = re.sub(r"\.{2,}", ".", s)
    return s.replace("\u2026", "...")


def sentence_case(s: str) -> str:
    s = re.sub(r"(^|[.?!]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), s)
    s = re.sub(r"\bi\b", "I", s)
    s = re.sub(r"\bi'", "I'", s)
    return s


SUBS = [  # (pattern, replacements) texting abbreviations and common misspellings
    (r"\byou\b", ["u"]), (r"\byour\b", ["ur", "youre"]), (r"\bbecause\b", ["bc", "cuz", "becuase", "coz"]),
    (r"\btonight\b", ["tonite", "2nite", "tonigth"]), (r"\breally\b", ["rly", "realy"]),
    (r"\bdon't\b", ["dont", "dnt"]), (r"\bI'm\b", ["im", "Im", "i'm", "Iam"]), (r"\bgoing to\b", ["gonna"]),
    (r"\bwant to\b", ["wanna"]), (r"\bprobably\b", ["prob", "probly"]), (r"\bsomething\b", ["smth"]),
    (r"\bthough\b", ["tho"]), (r"\bpeople\b", ["ppl"]), (r"\banymore\b", ["anymroe", "any more", "anymore"]),
    (r"\btomorrow\b", ["tmrw", "tomorow", "tommorow"]), (r"\bwhat\b", ["wat", "wht"]), (r"\bcan't\b", ["cant", "cnt"]),
    (r"\bboyfriend\b", ["bf"]), (r"\bgirlfriend\b", ["gf"]), (r"\bplease\b", ["pls", "plz"]),
    (r"\babout\b", ["abt"]), (r"\bknow\b", ["kno", "knw"]), (r"\bsomeone\b", ["some1", "somone"]),
    (r"\bbefore\b", ["b4"]), (r"\bthe\b", ["teh"]), (r"\bwith\b", ["w", "wiht"]), (r"\bdefinitely\b", ["definately"]),
    (r"\bmessages\b", ["msgs", "messeges"]), (r"\breceive\b", ["recieve"]), (r"\bweird\b", ["wierd"]),
    (r"\buntil\b", ["till", "untill"]), (r"\bwhen\b", ["wen"]), (r"\bhusband\b", ["hubby", "husbnd"]),
    (r"\bthere\b", ["their"]), (r"\bare\b", ["r"]), (r"\bnight\b", ["nite"]), (r"\bokay\b", ["ok", "k"]),
]
ESL_PREFIX = ["Sorry for my english. ", "English is not my first language. ", "Sorry my english is bad. ",
              "Excuse my english, ", "Hello, sorry english not good. "]
ESL_SUBS = [(r"\bI'm\b", "I am"), (r"\bdon't\b", "do not"), (r"\bcan't\b", "cannot"), (r"\bhe's\b", "he is"),
            (r"\bshe's\b", "she is"), (r"\bit's\b", "it is"), (r"\bwon't\b", "will not"), (r" the ", " "),
            (r" a ", " "), (r"\bhe\b (\w+)s\b", r"he \1"), (r"\bmy husband\b", "my husband he")]
PREFIX_SLANG = ["ngl ", "tbh ", "honestly ", "idk ", "so ", "um ", "ok so ", "like ", "lowkey ", "basically "]
SUFFIX_SLANG = [" tbh", " ngl", " fr", " idk what to do", " please help", " :(", "...", " idk", " honestly", " help"]
JOKE_SUFFIX = [" lol", " haha", " 😅", " lmao", " 🙄"]


def char_typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swap
    if kind < 0.7:
        return word[:i] + word[i + 1:]  # drop
    return word[:i] + word[i] + word[i:]  # double


def register(s: str, cat: str, rng: random.Random) -> str:
    r = rng.random
    esl = r() < 0.07
    if esl:
        for pat, rep in ESL_SUBS:
            if r() < 0.5:
                s = re.sub(pat, rep, s, count=1)
        s = rng.choice(ESL_PREFIX) + s
    if not esl and r() < 0.12:
        s = rng.choice(PREFIX_SLANG) + s[0].lower() + s[1:]
    if r() < 0.12:
        s = s.rstrip(".") + rng.choice(SUFFIX_SLANG)
    if cat == "none" and r() < 0.04 and not re.search(r"(lol|haha|lmao|😂|obviously\))\W*$", s):
        s = s.rstrip(".") + rng.choice(JOKE_SUFFIX)
    if r() < 0.22:
        for pat, reps in SUBS:
            if re.search(pat, s) and r() < 0.45:
                s = re.sub(pat, rng.choice(reps), s, count=1)
    if r() < 0.12:
        words = s.split(" ")
        idx = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
        if idx:
            i = rng.choice(idx)
            words[i] = char_typo(words[i], rng)
            s = " ".join(words)
    if r() < 0.28:
        s = s.replace("'", "").replace("’", "")
    if r() < 0.33:
        s = s.lower()
    if r() < 0.2:
        s = s.rstrip(".!")
    return s


def norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()


def toks(s: str) -> frozenset:
    return frozenset(re.findall(r"[a-z']+", s.lower().replace("’", "'")))


def too_close(text: str, evals: list) -> bool:
    """True when a text is a near-paraphrase of an eval item (token Jaccard >= 0.6)."""
    a = toks(text)
    if len(a) < 4:
        return False
    return any(len(a & b) >= 0.6 * len(a | b) for b in evals)


def generate_cell(c: dict, rng: random.Random, seen: set, evals: list) -> list[dict]:
    out = []
    attempts = 0
    while len(out) < c["quota"] and attempts < c["quota"] * 60:
        attempts += 1
        ctx = bind(rng)
        core = expand(rng.choice(c["templates"]), ctx, c["local"], rng)
        core = tidy(core)
        parts = [core]
        roll = rng.random()
        if roll < 0.22:
            parts.insert(0, expand(rng.choice(S["rel_ctx_pre"]), ctx, c["local"], rng))
        elif roll < 0.36:
            parts.append(expand(rng.choice(S["rel_ctx_post"]), ctx, c["local"], rng))
        text = " ".join(p if p.endswith((".", "?", "!", ":")) or p is parts[-1] else p + "." for p in parts)
        text = sentence_case(tidy(text)) if rng.random() < 0.75 else tidy(text)
        text = tidy(register(text, c["cat"], rng))
        key = norm(text)
        if len(key) < 8 or key in seen or too_close(text, evals):
            continue
        seen.add(key)
        out.append({"text": text, "category": c["cat"], "level": c["level"], "src": "gen"})
    return out


def main() -> None:
    rng = random.Random(SEED)
    hand = [json.loads(line) for line in HAND.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    seen = set()
    evals = []
    for f in EVAL_FILES:  # keep eval texts out of training (never reads evals/blind/)
        if f.exists():
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    t = json.loads(line)["text"]
                    seen.add(norm(t))
                    evals.append(toks(t))
    rows = []
    for d in hand:
        k = norm(d["text"])
        if k in seen:
            continue
        if too_close(d["text"], evals):
            print(f"warning: hand example close to an eval item: {d['text']!r}")
        seen.add(k)
        rows.append({"text": d["text"], "category": d["category"], "level": d["level"], "src": "hand"})
    for c in CELLS:
        rows.extend(generate_cell(c, rng, seen, evals))
    valid = {"none": {"none"}, "self_harm": {"check_in", "concern", "urgent"}, "abuse": {"check_in", "concern", "urgent"},
             "child_safety": {"concern", "urgent"}, "harm_to_others": {"concern", "urgent"},
             "surveillance": {"concern"}, "medical_emergency": {"urgent"}}
    for d in rows:
        assert d["level"] in valid[d["category"]], d
    with OUT.open("w", encoding="utf-8") as fh:
        for d in rows:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    counts = collections.Counter((d["category"], d["level"]) for d in rows)
    src = collections.Counter(d["src"] for d in rows)
    print(f"wrote {len(rows)} lines to {OUT.relative_to(ROOT)} ({dict(src)})")
    for k in sorted(counts):
        print(f"  {k[0]:18s} {k[1]:9s} {counts[k]}")


if __name__ == "__main__":
    main()
