"""A seeded synthetic scenario: calm brand chatter plus scripted incidents with known times.

Why synthetic data: real incident streams with trustworthy "this should have
paged at 09:20" labels do not exist in the open. A generator lets the demo,
the backtest and the tests run end to end against incidents whose start and
end are known to the millisecond, and lets anyone reproduce a run from a seed.

What a scenario contains (see :class:`Scenario` and the ``README.txt`` that
:func:`write_scenario` writes next to the posts):

* **Calm chatter** for every brand, minute by minute: a Poisson count whose
  mean follows a daily cycle (quiet at night, busy in the afternoon, all hours
  UTC), a weekday/weekend factor and a slow hourly wobble. Posts are spread
  over six platforms, written by authors with a heavy-tailed follower count,
  and mostly neutral or positive. About one post in fifty mentions no watched
  brand at all (noise the pipeline drops) and a few mention two brands.
* **Scripted incidents** (:class:`Incident`, written to ``labels.json``):
  a *viral complaint* (one root post reshared with accelerating growth,
  replies, and many near-duplicate complaints), a *product launch* (a big but
  happy spike that should page nobody) and a *slow negative drift* (the
  negative share creeps up for hours while volume stays flat).

Texts come from a small grammar (:class:`_Grammar`): templates with slots for
openers, brand mentions, products, issues, emotions, emoji and hashtags,
followed by casing and typo variants, so that thousands of posts read
differently. Everything is drawn from one seed: the same seed gives
byte-identical files.

Generation is pure apart from :func:`write_scenario`, which streams the posts
to disk a minute at a time so memory stays flat whatever the volume.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from streams.post import Post, format_timestamp, parse_timestamp

DEFAULT_START = "2026-11-20T00:00:00Z"
DEFAULT_BRANDS = ("skyway", "brewbox", "voltmobile")

#: Share of posts per platform, and the prefix of their ids.
PLATFORMS: dict[str, float] = {
    "twitter": 0.44, "reddit": 0.15, "facebook": 0.13, "instagram": 0.12, "tiktok": 0.10, "news": 0.06,
}
_ID_PREFIX = {"twitter": "tw", "reddit": "rd", "facebook": "fb", "instagram": "ig", "tiktok": "tt",
              "news": "nw"}

NOISE_SHARE = 0.02         # posts that mention no watched brand
TWO_BRAND_SHARE = 0.03     # posts that mention two brands
BRAND_FIELD_SHARE = 0.05   # posts whose source already set ``brand``
RESHARE_SHARE = 0.10       # calm-time reshares of a recent post
REPLY_SHARE = 0.08         # calm-time replies to a recent post


# --------------------------------------------------------------------------- brands


@dataclass(frozen=True)
class BrandProfile:
    """How people talk about one brand: its watch terms and the vocabulary of its posts.

    ``terms``, ``hashtags`` and ``handles`` must be the ones in ``crisiswatch.yaml``
    so that the watchlist matcher finds the posts. ``base_rate`` is the mean number
    of posts per minute at an average hour of a weekday (before ``--scale``).
    """

    name: str
    terms: tuple[str, ...]
    hashtags: tuple[str, ...]
    handles: tuple[str, ...]
    base_rate: float
    negative_share: float
    positive_share: float
    weekend_factor: float
    slots: Mapping[str, tuple[str, ...]]
    #: The viral complaint: the root post and the core phrases of its near-duplicates.
    viral_root: str
    viral_cores: tuple[str, ...]
    #: The product launch: what is launched and the official announcement.
    launch_product: str
    launch_announcement: str
    #: What the slow drift is about (negative issues that take over).
    drift_issues: tuple[str, ...]


def _words(text: str) -> tuple[str, ...]:
    """Split a ``|``-separated list of slot values (keeps the vocabulary tables compact)."""
    return tuple(part.strip() for part in text.split("|"))


_SKYWAY = BrandProfile(
    name="skyway",
    terms=("Skyway Airlines", "Skyway Air", "flyskyway"),
    hashtags=("#skyway", "#flyskyway"),
    handles=("@SkywayAir",),
    base_rate=18.0, negative_share=0.24, positive_share=0.30, weekend_factor=0.9,
    slots={
        "product": _words("app|check-in|lounge|baggage drop|boarding process|seat upgrade|loyalty miles|"
                          "onboard wifi|snack box|customer service line|website|rebooking tool|"
                          "premium cabin|priority lane|family boarding"),
        "issue_verb": _words(
            "cancelled my flight|lost my bag|delayed us {hours}|kept us on the tarmac {hours}|"
            "charged me {price} for a carry-on|bumped me off an overbooked flight|"
            "changed my seat without asking|never refunded my cancelled ticket|"
            "left us at the gate with no update|downgraded my seat|sent my luggage to {city}|"
            "made me miss my connection in {city}|had the wifi down the whole flight|"
            "moved my flight {hours} earlier with no notice|broke my stroller"),
        "issue_noun": _words(
            "delayed flight|lost bag|cancelled flight|missed connection|surprise bag fee|"
            "broken seat|three-hour tarmac wait|refund that never came|rebooking mess|"
            "overbooked flight|gate change with no announcement|cold meal"),
        "praise_verb": _words(
            "got me home early|upgraded me for free|found my lost bag in an hour|"
            "rebooked me in two minutes|had the smoothest boarding ever|held the plane for my connection|"
            "made my kid's first flight special|answered my DM in five minutes|"
            "landed {num} minutes early|gave us a birthday announcement on board"),
        "praise_noun": _words("the crew|the new lounge|the pilot|the cabin crew on {flightno}|"
                              "the app|the legroom|the coffee on board|the gate agent in {city}"),
        "neutral": _words(
            "just booked a flight to {city}|boarding {flightno} to {city} now|"
            "flying to {city} tomorrow, wish me luck|is adding new routes to {city}|"
            "has a sale on flights to {city} this week|is my only option out of {city}|"
            "changed the app layout again|is hiring cabin crew in {city}|"
            "window or aisle, asking for a long flight"),
        "question": _words(
            "lets you change seats online|allows pets in the cabin|has wifi on short flights|"
            "refunds if you cancel 24 hours before|still does free snacks|flies direct to {city}|"
            "lets you bring a guitar on board"),
        "news": _words(
            "adds {num} new routes from {city}|reports record holiday bookings|"
            "orders {num} new aircraft|names new chief executive|expands lounge at {city} airport|"
            "launches nonstop service to {city}|tops on-time ranking for October|"
            "faces scrutiny over delays at {city} airport|settles pilot contract talks"),
        "topic_tag": _words("#travel|#avgeek|#flying|#airport|#travelproblems|#wanderlust"),
    },
    viral_root=(
        "@SkywayAir cancelled our flight out of Denver at 11pm, stranded 180 of us overnight and the only "
        "help was a $12 meal voucher. Staff just walked away. Families with babies sleeping on the floor. "
        "How is this ok?? #skyway"),
    viral_cores=_words(
        "stranded {stranded} overnight in {den} with a {voucher}|"
        "left {stranded} stranded in {den} with nothing but a {voucher}|"
        "cancelled at 11pm and handed out a {voucher} to {stranded} in {den}|"
        "is stranding families overnight in {den} for a {voucher}|"
        "has {stranded} sleeping on the floor in {den} and all they got was a {voucher}|"
        "walked away from {stranded} stuck in {den}, {voucher} and good luck"),
    launch_product="", launch_announcement="",
    drift_issues=_words("delayed us {hours}|lost my bag|made me miss my connection in {city}|"
                        "cancelled my flight"),
)

_BREWBOX = BrandProfile(
    name="brewbox",
    terms=("BrewBox", "Brew Box"),
    hashtags=("#brewbox",),
    handles=("@BrewBox",),
    base_rate=12.0, negative_share=0.15, positive_share=0.38, weekend_factor=1.2,
    slots={
        "product": _words("subscription|monthly box|espresso pods|cold brew kit|grinder|app|"
                          "oat milk blend|decaf box|gift box|tasting notes card|delivery|"
                          "reusable filter|holiday blend|barista course"),
        "issue_verb": _words(
            "sent me the wrong beans again|charged me twice this month|lost my delivery|"
            "shipped a crushed box|cancelled my subscription without asking|"
            "ignored my refund request {time}|sent stale coffee|made cancelling impossible|"
            "delivered my box {num} days late|raised the price without telling anyone"),
        "issue_noun": _words(
            "late box|double charge|crushed delivery|wrong order|stale beans|missing pods|"
            "broken grinder|surprise price hike|refund runaround"),
        "praise_verb": _words(
            "nailed the holiday blend|sent a free sample with my box|replaced my grinder overnight|"
            "got my order here a day early|remembered I like decaf|made my mornings so much better|"
            "fixed my order in one message|has the best cold brew I have had"),
        "praise_noun": _words("the new blend|the packaging|the cold brew kit|the tasting notes|"
                              "the customer team|this month's box|the espresso pods"),
        "neutral": _words(
            "box arrived today|is changing delivery days next month|has a new decaf option|"
            "is sponsoring the {city} coffee festival|pods vs beans, what do you all use?|"
            "subscription comes out to {price} a month|is now shipping to {city}|"
            "posted the new roast calendar"),
        "question": _words(
            "lets you pause a subscription|ships to {city}|has a student discount|"
            "sells the grinder on its own|does gift subscriptions|uses compostable pods"),
        "news": _words(
            "raises {price}M to expand roasting|opens roastery in {city}|partners with {num} local cafes|"
            "recalls batch of cold brew kits|reports subscriber growth of {num}0 percent|"
            "names new head of coffee"),
        "topic_tag": _words("#coffee|#coffeetime|#morningroutine|#espresso|#coldbrew|#caffeine"),
    },
    viral_root=(
        "@BrewBox charged my card 9 times for one box and support closed my ticket without a word. "
        "$350 gone before rent. #brewbox"),
    viral_cores=_words("charged me 9 times for one box and closed my ticket|"
                       "took $350 for one box and ghosted support|"
                       "charged my card nine times, support closed the ticket|"
                       "billed me 9 times for a single box|drained $350 from my account for one order"),
    launch_product="Winter Reserve box",
    launch_announcement=(
        "It's here ❄️ Meet the BrewBox Winter Reserve box: three small-lot holiday roasts, a spiced "
        "cold brew kit and a mug. Order today, ships Monday. #brewbox"),
    drift_issues=_words("lost my delivery|sent stale coffee|charged me twice this month"),
)

_VOLTMOBILE = BrandProfile(
    name="voltmobile",
    terms=("Volt Mobile", "VoltMobile"),
    hashtags=("#voltmobile",),
    handles=("@VoltMobile",),
    base_rate=15.0, negative_share=0.22, positive_share=0.28, weekend_factor=0.85,
    slots={
        "product": _words("5G|data plan|unlimited plan|bill|eSIM|roaming|coverage|app|family plan|"
                          "customer support|hotspot|prepaid card|store in {city}|new SIM"),
        "issue_verb": _words(
            "dropped my call {num} times today|has had no signal here {time}|overcharged my bill by {price}|"
            "throttled my unlimited data|cut my service by mistake|lost my number port|"
            "kept me on hold {hours}|charged roaming in my own city|bricked my eSIM|"
            "has had data crawling {time}|sent me a {price} bill for nothing"),
        "issue_noun": _words(
            "dropped call|dead zone|surprise charge|slow data|eSIM fail|hold music marathon|"
            "billing error|outage|port-out mess"),
        "praise_verb": _words(
            "fixed my bill in one chat|has great 5G in {city}|sorted my eSIM in minutes|"
            "gave me a free month after the outage|has the best family plan price|"
            "kept me connected the whole festival|waived my roaming fees"),
        "praise_noun": _words("the coverage|the new app|the support chat|the family plan|"
                              "the 5G in {city}|the store team in {city}"),
        "neutral": _words(
            "is switching the network to 5G in {city}|bill is {price} this month|"
            "store in {city} is closing early today|has a new prepaid plan|"
            "is upgrading towers around {city}|plans compared, anyone done the math?"),
        "question": _words(
            "works with an unlocked phone|covers {city}|charges for hotspot|has wifi calling|"
            "lets you keep your number|does student plans"),
        "news": _words(
            "expands 5G coverage to {num} cities|raises prices on legacy plans|"
            "reports {num} million subscribers|settles billing complaint in {city}|"
            "wins network speed award|to retire 3G network next year"),
        "topic_tag": _words("#5G|#telecom|#mobile|#signal|#phone|#outage"),
    },
    viral_root=(
        "@VoltMobile cut off my mum's phone while she was in hospital because of YOUR billing error and "
        "support hung up on me twice. Unbelievable. #voltmobile"),
    viral_cores=_words("cut off a hospital patient over its own billing error|hung up on a worried family twice|"
                       "disconnected my mum in hospital because of a billing error|"
                       "cut off phones over YOUR billing mistake"),
    launch_product="", launch_announcement="",
    drift_issues=_words("has had no signal here {time}|dropped my call {num} times today|"
                        "has had data crawling {time}|kept me on hold {hours}"),
)

PROFILES: dict[str, BrandProfile] = {p.name: p for p in (_SKYWAY, _BREWBOX, _VOLTMOBILE)}


def profile_for(name: str) -> BrandProfile:
    """The built-in profile of ``name``, or a generic one (``Name``, ``#name``, ``@Name``)."""
    if name in PROFILES:
        return PROFILES[name]
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", name):
        raise ValueError(f"brand name {name!r}: expected lower-case letters, digits, '_', '.', '-'")
    display = name.replace("_", " ").replace("-", " ").title()
    compact = display.replace(" ", "")
    generic = dict(_VOLTMOBILE.slots)
    generic.update(
        product=_words("app|website|customer service|delivery|subscription|store in {city}|account|"
                       "loyalty card|latest update|premium plan"),
        issue_verb=_words("charged me twice|lost my order|ignored my emails {time}|kept me on hold {hours}|"
                          "cancelled my account by mistake|broke the app again"),
        issue_noun=_words("double charge|lost order|app crash|billing error|long wait"),
        praise_verb=_words("fixed my problem in one chat|sent a lovely thank-you note|"
                           "refunded me the same day|made it so easy"),
        praise_noun=_words("the support team|the new app|the store team in {city}|the service"),
        neutral=_words("has a new app|is opening a store in {city}|changed its logo|posted new prices"),
        question=_words("ships to {city}|has a student discount|is open on sundays"),
        news=_words("expands to {city}|reports quarterly results|names new chief executive"),
        topic_tag=_words("#customerservice|#shopping|#tech"),
    )
    return BrandProfile(
        name=name, terms=(display,), hashtags=(f"#{compact.lower()}",), handles=(f"@{compact}",),
        base_rate=12.0, negative_share=0.2, positive_share=0.3, weekend_factor=0.9, slots=generic,
        viral_root=(f"@{compact} charged my card 9 times for one order and support closed my ticket "
                    f"without a word. $350 gone before rent. #{compact.lower()}"),
        viral_cores=_words("charged me 9 times for one order|took $350 and closed my ticket|"
                           "billed me nine times for a single order"),
        launch_product="new app", launch_announcement=f"Meet the new {display} app, out today. #{compact.lower()}",
        drift_issues=_words("lost my order|kept me on hold {hours}|broke the app again"),
    )


# --------------------------------------------------------------------------- shared vocabulary

_SHARED_SLOTS: dict[str, tuple[str, ...]] = {
    "opener_neg": _words("ugh|seriously|wow|unbelievable|honestly|not again|great,|so|lol|well|"
                         "another day,|cool cool cool|absolutely unreal,|again?|classic|||||"),
    "opener_pos": _words("wow|ok|honestly|big thanks,|not gonna lie|genuinely|yes!|so|aww||||||"),
    "opener_neu": _words("fyi|quick question:|random thought:|ok so|heads up:|so|hmm|||||||"),
    "emotion_neg": _words(
        "so frustrated|done with this|never again|absolutely furious|this is a joke|what a mess|"
        "i give up|beyond annoyed|this is ridiculous|so disappointed|worst experience|"
        "sick of it|unacceptable|fuming|can't believe this"),
    "emotion_pos": _words(
        "love it|so happy|10/10|made my day|can't complain|big fan|impressed|well done|"
        "this is why i stay|happy customer|amazing|chef's kiss"),
    "adj_pos": _words("brilliant|so good|top notch|excellent|lovely|great|fantastic|really nice|spot on"),
    "emoji_neg": ("😡", "🙄", "😤", "😩", "🤬", "👎", "😒", "😠🤦", "💀", "", "", "", ""),
    "emoji_pos": ("😍", "🙌", "✨", "❤️", "👏", "😊", "🥳", "💯", "🙏", "", "", ""),
    "emoji_neu": ("👀", "🤔", "📍", "", "", "", "", ""),
    "time": _words("for 2 days|since monday|all week|for the third time this month|since 6am|"
                   "for over a week|since yesterday|all morning|for {hours}|since last month"),
    "hours": _words("2 hours|3 hours|45 minutes|4 hours|90 minutes|an hour|5 hours|6 hours"),
    "city": _words("Denver|Boston|Chicago|Austin|Seattle|Atlanta|Phoenix|Miami|Dallas|Portland|"
                   "Lisbon|Toronto|Nashville|San Diego|Minneapolis|Raleigh|Tampa|Salt Lake City"),
    "closer_neg": _words("fix this|do better|thanks for nothing|#fail|any update?|DM me back please|"
                         "where is my refund|still waiting|answer your customers|i want a refund|"
                         "is anyone there?|||"),
    "closer_pos": _words("thank you!|keep it up|recommend|thanks team|you rock|cheers|||"),
    "duration": _words("for a year|for 3 months|since 2021|for ages|for a few weeks|since the summer"),
    "wait_phrase": _words("nobody answers|straight to voicemail|put on hold every time|no reply|"
                          "they just hang up|the chat bot loops forever"),
    "stranded": _words("180 people|180 of us|families|hundreds of passengers|200 people|kids and babies|"
                       "a whole plane|us|my elderly parents"),
    "den": _words("Denver|DEN|Denver airport|the Denver terminal"),
    "voucher": _words("$12 meal voucher|$12 voucher|12 dollar voucher|twelve dollar food voucher|"
                      "$12 coupon"),
}

_NEGATIVE_TEMPLATES = (
    "{opener_neg} {mention} {issue_verb} {time}. {emotion_neg} {emoji_neg}",
    "{mention} {issue_verb} and nobody from support has answered {time}. {closer_neg}",
    "another {issue_noun} with {mention}. {emotion_neg} {emoji_neg}",
    "how is it that {mention} {issue_verb}?? {closer_neg} {emoji_neg}",
    "{mention} your {product} is a mess. {issue_noun} {time} {emoji_neg}",
    "day {num} of waiting for {mention} to sort out my {issue_noun}. {emotion_neg}",
    "dear {mention}, you {issue_verb}. i pay for this. {closer_neg}",
    "{emotion_neg}. {mention} {issue_verb} {tag}",
    "so {mention} {issue_verb} and the {product} is useless {emoji_neg}",
    "PSA: {mention} {issue_verb}. avoid the {product} if you can",
    "anyone else having problems with the {mention} {product}? {issue_noun} {time}",
    "{mention} {issue_verb}. called {num} times, {wait_phrase}. {closer_neg}",
    "{opener_neg} {issue_noun} courtesy of {mention} {emoji_neg} {tag}",
    "the {mention} {product} is broken again. {emotion_neg}",
    "i have been a customer {duration} and {mention} {issue_verb}. {emotion_neg}",
)
_POSITIVE_TEMPLATES = (
    "{opener_pos} {mention} {praise_verb} {emoji_pos}",
    "shoutout to {mention}, {praise_verb}. {emotion_pos}",
    "{praise_noun} at {mention} is {adj_pos} {emoji_pos}",
    "not gonna lie, {mention} {praise_verb} {tag}",
    "{emotion_pos}! {mention} {praise_verb}",
    "been using {mention} {duration} and the {product} is {adj_pos}",
    "thank you {mention}, {praise_verb} {emoji_pos} {closer_pos}",
    "{opener_pos} the {mention} {product} is {adj_pos} {emoji_pos}",
    "credit where it's due: {mention} {praise_verb}. {closer_pos}",
    "{praise_noun} at {mention} today: {adj_pos}. {emotion_pos} {emoji_pos}",
)
_NEUTRAL_TEMPLATES = (
    "{opener_neu} {mention} {neutral} {emoji_neu}",
    "does anyone know if {mention} {question}?",
    "{mention} question: anyone know if it {question}?",
    "{opener_neu} looking at the {mention} {product}, worth it? {emoji_neu}",
    "{mention} {neutral} {tag}",
    "has anyone tried the {mention} {product} yet",
    "{opener_neu} thinking about switching to {mention} {emoji_neu}",
    "my {mention} {product} thread, ask me anything",
    "comparing {mention} prices before the holidays {tag}",
)
_NEWS_TEMPLATES = (
    "{term} {news}",
    "{term} {news} - report",
    "{term} {news}, sources say",
    "Breaking: {term} {news}",
    "{term} {news} | Business",
)
_REDDIT_TAILS = _words(
    "Posting here because i have nowhere else to ask.|Edit: thanks for the replies.|Long time lurker, first post.|"
    "Anyone been through this?|Curious what others think.|Update below if anything changes.|"
    "Not sure if this is the right sub.|TL;DR see title.")
_NOISE_TEMPLATES = (
    "{opener_neg} the airline lost my bag again {emoji_neg}",
    "flights are so expensive this time of year {emoji_neu}",
    "my coffee subscription box is late again",
    "phone signal at this stadium is terrible {emoji_neg}",
    "{opener_pos} best latte i have had all week {emoji_pos}",
    "anyone know a good carrier with cheap data in {city}?",
    "boarding in {city}, see you on the other side {emoji_pos}",
    "my carrier charged me {price} for nothing {emoji_neg}",
    "cold brew season never ends {emoji_pos}",
    "stuck at {city} airport for {hours}. {emotion_neg}",
    "new phone, who dis {emoji_neu}",
    "travel tip: always pack a charger in your carry-on",
)
_TWO_BRAND_TEMPLATES = (
    "between {mention} and {mention2} this week i have had enough {emoji_neg}",
    "{mention} and {mention2} both came through for me this morning {emoji_pos}",
    "shoutout to {mention} and {mention2}, you both made my week easier",
    "{opener_neg} {mention} and {mention2} on the same day. {emotion_neg}",
    "{mention} vs {mention2}: who has the better app? {emoji_neu}",
    "{mention} customer service is miles ahead of {mention2}, not even close",
    "my two most used apps this month: {mention} and {mention2} {emoji_neu}",
    "ranked my subscriptions: {mention} stays, {mention2} is on thin ice",
)
_BRAND_FIELD_ONLY = _words(
    "is the store open on sundays?|thank you for the quick reply!|still waiting on an answer to my message|"
    "can someone call me back please|love the new update|where do i send my receipt?")

_FIRST = _words("ana|ben|chloe|dev|emma|finn|gia|hugo|isla|jay|kim|leo|maya|noah|olivia|pat|quinn|rosa|"
                "sam|tara|uma|vic|will|xena|yara|zoe|alex|jordan|casey|riley|morgan|taylor|jamie|drew|"
                "sky|remy|nico|luca|ivy|omar|priya|kenji|mateo|sofia|liam|aria|eli|nina")
_SECOND = _words("travels|coffee|codes|runs|reads|bakes|films|plays|writes|draws|lifts|cooks|knits|"
                 "smith|jones|lee|garcia|nguyen|khan|brown|miller|wilson|moore|clark|ramos|fox|wolf|"
                 "sunshine|nomad|eats|daily|official|irl|tweets|vibes")
_REPLY_BODIES = _words(
    "same thing happened to me with {mention} last month, awful|this is awful, {mention} needs to answer for this|"
    "hope you got home ok. shame on {mention}, disgusting|{mention} what are you doing about this?? unacceptable|"
    "{mention} respond to this NOW|never giving {mention} my money again after reading this|"
    "{mention} this is the third horror story like this i have seen this week|"
    "wow. {mention} you should be ashamed|{mention} refund these people|"
    "sharing so {mention} sees it. shameful|{mention} how do you sleep at night|"
    "{mention} treated us the same way in {city}, worst company|this is disgusting {mention}|"
    "{mention} {emotion_neg}|{emotion_neg}, {mention} do better {emoji_neg}")
_QUOTE_COMMENTS = _words("this is disgusting|unreal|everyone needs to see this|how is this legal|"
                         "wow|absolutely shameful|{mention} explain this|oh no")
_LAUNCH_POSITIVE = (
    "{opener_pos} just ordered the {launch} from {mention} {emoji_pos}",
    "the {launch} from {mention} looks {adj_pos} {emoji_pos}",
    "{mention} {launch} unboxing this weekend, cannot wait {emoji_pos}",
    "ok the {mention} {launch} is {adj_pos}, take my money {emoji_pos}",
    "{emotion_pos}! the {launch} is here {mention}",
    "got the {launch} from {mention} as an early gift {emoji_pos} {closer_pos}",
    "{mention} knocked it out of the park with the {launch} {emoji_pos}",
)
_LAUNCH_NEUTRAL = (
    "{mention} {launch}: what's in it? {emoji_neu}",
    "is the {mention} {launch} worth {price}?",
    "{opener_neu} {mention} just dropped the {launch} {emoji_neu}",
    "anyone know when the {mention} {launch} ships to {city}?",
)
_LAUNCH_NEWS = ("{term} launches {launch} for the holidays", "{term} unveils {launch}",
                "{term} bets on {launch} to grow subscriptions")
_LAUNCH_NEGATIVE = (
    "{mention} the {launch} sold out in minutes?? {emoji_neg}",
    "{mention} site crashed when i tried to order the {launch} {emoji_neg}",
)


# --------------------------------------------------------------------------- the grammar

_SLOT = re.compile(r"\{(\w+)\}")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?:])")
_MULTI_SPACE = re.compile(r"\s{2,}")
_APOSTROPHE_WORDS = re.compile(r"\b(\w+)'(t|s|m|re|ve|ll|d)\b")
_PROTECTED = re.compile(r"[@#]|\d")


class _Grammar:
    """Expand ``{slot}`` templates with random choices, recursively, then vary casing and typos.

    ``dynamic`` maps slot names to callables for values that depend on the post
    (the brand mention, a number); every other slot is looked up in ``tables``.
    """

    def __init__(self, rng: random.Random, protected_words: set[str]) -> None:
        self.rng = rng
        self.protected_words = protected_words

    def expand(self, template: str, tables: Sequence[Mapping[str, Sequence[str]]],
               dynamic: Mapping[str, Callable[[], str]], depth: int = 0) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in dynamic:
                value = dynamic[name]()
            else:
                value = next((self.rng.choice(t[name]) for t in tables if name in t), "")
            if "{" in value and depth < 3:
                value = self.expand(value, tables, dynamic, depth + 1)
            return value

        return _SLOT.sub(fill, template)

    def tidy(self, text: str) -> str:
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", _MULTI_SPACE.sub(" ", text)).strip()
        text = text.replace("..", ".").replace(",.", ".").replace("?.", "?").replace("!.", "!")
        return text.strip(" ,") or "."

    def vary(self, text: str, angry: bool) -> str:
        """Casing and typo variants people actually produce; brand names and tags are left intact."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            text = text[:1].upper() + text[1:]
        elif roll < 0.55:
            text = text.lower()
        if rng.random() < 0.12:
            text = _APOSTROPHE_WORDS.sub(r"\1\2", text)
        if rng.random() < 0.12:
            text = self._typo(text)
        if rng.random() < 0.06:
            text = re.sub(r"\bso\b", rng.choice(("sooo", "soooo", "sooooo")), text, count=1)
        if angry and rng.random() < 0.12:
            words = text.split(" ")
            i = rng.randrange(len(words))
            if not _PROTECTED.search(words[i]):
                words[i] = words[i].upper()
            text = " ".join(words)
        if rng.random() < 0.08:
            text = text.rstrip(".") + rng.choice(("!!", "!!!", "??", "...", " lol", " smh"))
        return text

    def _typo(self, text: str) -> str:
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()
                      and w.lower() not in self.protected_words]
        if not candidates:
            return text
        i = self.rng.choice(candidates)
        word = words[i]
        j = self.rng.randrange(1, len(word) - 1)
        kind = self.rng.random()
        if kind < 0.5:
            word = word[:j] + word[j + 1] + word[j] + word[j + 2:]      # swap two letters
        elif kind < 0.8:
            word = word[:j] + word[j + 1:]                              # drop a letter
        else:
            word = word[:j] + word[j] + word[j:]                        # double a letter
        words[i] = word
        return " ".join(words)


# --------------------------------------------------------------------------- scenario and incidents


@dataclass(frozen=True)
class Incident:
    """One scripted incident, as written to ``labels.json``."""

    kind: str                    # viral_complaint | product_launch | negative_drift
    brand: str
    start: float                 # epoch seconds: the first incident post (drift: when the share starts rising)
    end: float                   # epoch seconds: when it has decayed (no incident posts after this)
    description: str
    should_alert: bool
    should_page: bool
    peak: float | None = None
    root_post_id: str | None = None
    posts: int = 0               # posts the incident added (drift: negative posts beyond the baseline share)

    def to_label(self) -> dict[str, Any]:
        label: dict[str, Any] = {
            "kind": self.kind, "brand": self.brand,
            "start": format_timestamp(self.start), "end": format_timestamp(self.end),
            "description": self.description,
            "should_alert": self.should_alert, "should_page": self.should_page,
            "expected_severity": "critical" if self.should_page else ("warning" if self.should_alert else None),
        }
        if self.peak is not None:
            label["peak"] = format_timestamp(self.peak)
        if self.root_post_id is not None:
            label["root_post_id"] = self.root_post_id
        label["incident_posts"] = self.posts
        return label


#: When each incident happens, in hours after the scenario start (with the default start, day 1 is a
#: Friday and day 2 a Saturday). Each one leaves at least 12 calm hours before it for warm-up.
LAUNCH_AT_HOURS = 15.0                     # day 1, 15:00
VIRAL_AT_HOURS = 33.0 + 20 / 60            # day 2, 09:20
DRIFT_HOURS = (28.0, 41.0, 47.0)           # day 2: rises from 04:00, peaks at 17:00, back to normal by 23:00

VIRAL_PEAK_MINUTES = 40.0      # minutes from the root post to the peak
VIRAL_GROWTH_TAU = 7.0         # e-folding time of the growth, minutes
VIRAL_DECAY_TAU = 35.0         # e-folding time of the decay, minutes
VIRAL_PEAK_RATIO = 12.0        # extra posts per minute at the peak / the brand's base rate
LAUNCH_PEAK_MINUTES = 15.0
LAUNCH_GROWTH_TAU = 3.0
LAUNCH_DECAY_TAU = 60.0
LAUNCH_PEAK_RATIO = 10.0
END_RATIO = 0.1                # an incident has "decayed" when its extra rate is below this x base rate
DRIFT_NEGATIVE_SHARE = 0.62    # negative share of the drifting brand at the drift's peak


def _burst_rate(minutes: float, peak_at: float, growth_tau: float, decay_tau: float) -> float:
    """Relative rate (1 at the peak) of an exponential rise then exponential decay."""
    if minutes < 0:
        return 0.0
    if minutes <= peak_at:
        return math.exp((minutes - peak_at) / growth_tau)
    return math.exp(-(minutes - peak_at) / decay_tau)


def _burst_length(peak_at: float, decay_tau: float, peak_ratio: float) -> float:
    """Minutes from the start until the burst's extra rate falls below ``END_RATIO`` x base rate."""
    return peak_at + decay_tau * math.log(peak_ratio / END_RATIO)


def daily_profile(hour_of_day: float) -> float:
    """Relative posting rate by UTC hour: about 0.3 around 03:00, about 1.65 mid-afternoon, mean 1."""
    angle = 2 * math.pi * hour_of_day / 24
    return 1 + 0.55 * math.cos(angle - 2 * math.pi * 15 / 24) + 0.15 * math.cos(2 * angle - 2 * math.pi * 13 / 12)


@dataclass(frozen=True)
class Scenario:
    """What to generate. ``start`` is epoch seconds (UTC); ``scale`` multiplies every rate."""

    seed: int = 7
    brands: tuple[BrandProfile, ...] = field(default_factory=lambda: tuple(PROFILES[b] for b in DEFAULT_BRANDS))
    start: float = field(default_factory=lambda: parse_timestamp(DEFAULT_START))
    days: float = 2.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.brands:
            raise ValueError("a scenario needs at least one brand")
        if len({b.name for b in self.brands}) != len(self.brands):
            raise ValueError("brand names must be unique")
        if not 0 < self.days <= 60:
            raise ValueError(f"days must be in (0, 60], got {self.days}")
        if not 0 < self.scale <= 100:
            raise ValueError(f"scale must be in (0, 100], got {self.scale}")
        if self.start % 60:
            raise ValueError("start must fall on a whole minute")

    @property
    def end(self) -> float:
        return self.start + self.minutes * 60

    @property
    def minutes(self) -> int:
        return round(self.days * 24 * 60)

    def incident_brands(self) -> dict[str, str]:
        """Which brand each incident kind happens to: the demo brands when present, else by position."""
        names = [b.name for b in self.brands]

        def pick(preferred: str, position: int) -> str:
            return preferred if preferred in names else names[position % len(names)]

        return {"viral_complaint": pick("skyway", 0), "product_launch": pick("brewbox", 1),
                "negative_drift": pick("voltmobile", 2)}


# --------------------------------------------------------------------------- the generator


@dataclass(slots=True)
class _Author:
    id: str
    handle: str
    followers: int


@dataclass(slots=True)
class _Recent:
    """A recent original post that calm-time reshares and replies can point at."""

    id: str
    handle: str
    text: str
    platform: str


class _Generator:
    """Produces the posts of a :class:`Scenario`, one minute at a time, in time order."""

    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.np_rng = np.random.default_rng(scenario.seed)
        self.seq = 0
        self.brands = {b.name: b for b in scenario.brands}
        protected = {w.lower().lstrip("#@") for b in scenario.brands for phrase in (*b.terms, *b.hashtags, *b.handles)
                     for w in phrase.split()}
        self.grammar = _Grammar(self.rng, protected)
        self.platforms = list(PLATFORMS)
        self.platform_cum = list(np.cumsum(list(PLATFORMS.values())) / sum(PLATFORMS.values()))
        self._make_authors()
        # Calm reshares and replies point at posts of earlier minutes (never later in the same minute).
        self.recent: dict[str, deque[_Recent]] = {b: deque(maxlen=300) for b in self.brands}
        self.pending: list[tuple[str, _Recent]] = []
        self.hour_wobble = self.np_rng.lognormal(0.0, 0.12, size=(len(scenario.brands), scenario.minutes // 60 + 2))
        self._plan_incidents()

    # ---- authors

    def _make_authors(self) -> None:
        n = max(2_000, int(60_000 * min(self.s.scale, 4.0)))
        followers = np.exp(self.np_rng.normal(4.6, 1.7, size=n))
        big = self.np_rng.random(n) < 0.004
        followers[big] = 20_000 * (1 + self.np_rng.pareto(1.1, size=int(big.sum())))
        self.author_followers = np.minimum(followers, 50_000_000).astype(np.int64).tolist()
        # Activity is heavy-tailed too: a few accounts post often, most post once or twice.
        activity = self.np_rng.pareto(1.3, size=n) + 0.05
        self.author_cum = np.cumsum(activity / activity.sum()).tolist()
        rng = self.rng
        self.author_handles = [
            f"{rng.choice(_FIRST)}{rng.choice(('', '_', '.', ''))}{rng.choice(_SECOND)}"
            f"{rng.choice(('', '', str(rng.randint(1, 99)), str(rng.randint(1970, 2009))))}"
            for _ in range(n)
        ]

    def _author(self) -> _Author:
        i = min(bisect.bisect_left(self.author_cum, self.rng.random()), len(self.author_cum) - 1)
        return _Author(f"u{i:06d}", self.author_handles[i], self.author_followers[i])

    # ---- incidents

    def _plan_incidents(self) -> None:
        s = self.s
        hours = s.days * 24
        by_kind = s.incident_brands()
        self.viral: dict[str, Any] | None = None
        self.launch: dict[str, Any] | None = None
        self.drift: dict[str, Any] | None = None
        viral_len = _burst_length(VIRAL_PEAK_MINUTES, VIRAL_DECAY_TAU, VIRAL_PEAK_RATIO)
        if VIRAL_AT_HOURS + viral_len / 60 + 1 / 60 <= hours:
            start_minute = round(VIRAL_AT_HOURS * 60)
            self.viral = {"brand": by_kind["viral_complaint"], "minute": start_minute,
                          "second": self.rng.uniform(5, 40), "length": viral_len, "posts": 0}
        launch_len = _burst_length(LAUNCH_PEAK_MINUTES, LAUNCH_DECAY_TAU, LAUNCH_PEAK_RATIO)
        if LAUNCH_AT_HOURS + launch_len / 60 + 1 / 60 <= hours:
            self.launch = {"brand": by_kind["product_launch"], "minute": round(LAUNCH_AT_HOURS * 60),
                           "second": self.rng.uniform(0, 10), "length": launch_len, "posts": 0}
        if DRIFT_HOURS[2] <= hours:
            self.drift = {"brand": by_kind["negative_drift"], "posts": 0.0}

    def _drift_extra_negative(self, brand: str, hour: float) -> float:
        """How much the drifting brand's negative share is raised at ``hour`` after the start."""
        if self.drift is None or brand != self.drift["brand"]:
            return 0.0
        begin, peak, end = DRIFT_HOURS
        if hour <= begin or hour >= end:
            return 0.0
        rise = (hour - begin) / (peak - begin) if hour <= peak else (end - hour) / (end - peak)
        return rise * (DRIFT_NEGATIVE_SHARE - self.brands[brand].negative_share)

    def incidents(self) -> list[Incident]:
        """The incidents as labelled (call after generation for the post counts)."""
        s = self.s
        out: list[Incident] = []
        if self.launch:
            ln = self.launch
            begin = s.start + ln["minute"] * 60 + ln["second"]
            brand = self.brands[ln["brand"]]
            out.append(Incident(
                kind="product_launch", brand=ln["brand"], start=_ms(begin),
                end=_ms(begin + ln["length"] * 60), peak=_ms(begin + LAUNCH_PEAK_MINUTES * 60),
                description=(f"Launch of the {brand.launch_product or 'new product'}: the official announcement "
                             f"is reshared widely and volume jumps to about {LAUNCH_PEAK_RATIO + 1:.0f}x the "
                             "base rate within 15 minutes, then decays over a few hours. Posts are mostly positive "
                             "or neutral: a benign spike that should page nobody."),
                should_alert=False, should_page=False, root_post_id=ln.get("root_id"), posts=ln["posts"]))
        if self.drift:
            begin, peak, end = (s.start + h * 3600 for h in DRIFT_HOURS)
            brand = self.brands[self.drift["brand"]]
            out.append(Incident(
                kind="negative_drift", brand=brand.name, start=begin, end=end, peak=peak,
                description=(f"Slow negative drift: the share of negative posts creeps up from "
                             f"{brand.negative_share:.0%} to {DRIFT_NEGATIVE_SHARE:.0%} over "
                             f"{DRIFT_HOURS[1] - DRIFT_HOURS[0]:.0f} hours (peak at the 'peak' time), then returns "
                             "to normal; total volume does not change. Worth a warning, not a page."),
                should_alert=True, should_page=False, posts=round(self.drift["posts"])))
        if self.viral:
            vi = self.viral
            begin = s.start + vi["minute"] * 60 + vi["second"]
            out.append(Incident(
                kind="viral_complaint", brand=vi["brand"], start=_ms(begin), end=_ms(begin + vi["length"] * 60),
                peak=_ms(begin + VIRAL_PEAK_MINUTES * 60),
                description=("Viral complaint: one negative root post is reshared with accelerating growth "
                             "(reshares carry reshare_of = root_post_id), answered (reply_to) and echoed by many "
                             "independent near-duplicate complaints; volume reaches about "
                             f"{VIRAL_PEAK_RATIO + 1:.0f}x the base rate {VIRAL_PEAK_MINUTES:.0f} minutes after "
                             "the root post, then decays. Should page."),
                should_alert=True, should_page=True, root_post_id=vi.get("root_id"), posts=vi["posts"]))
        return sorted(out, key=lambda inc: inc.start)

    # ---- the stream

    def posts(self) -> Iterator[Post]:
        """Every post, sorted by ``created_at`` (ties by id)."""
        for minute in range(self.s.minutes):
            batch = self._minute(minute)
            batch.sort(key=lambda p: (p.created_at, p.id))
            yield from batch

    def _minute(self, minute: int) -> list[Post]:
        s = self.s
        for brand_name, recent_post in self.pending:
            self.recent[brand_name].append(recent_post)
        self.pending.clear()
        t0_ms = round(s.start * 1000) + minute * 60_000
        hour = minute / 60
        day = datetime.fromtimestamp(s.start + minute * 60, tz=UTC)
        weekend = day.weekday() >= 5
        profile = daily_profile(day.hour + day.minute / 60)
        batch: list[Post] = []
        total_rate = 0.0
        for index, brand in enumerate(s.brands):
            rate = (brand.base_rate * s.scale * profile * self.hour_wobble[index, minute // 60]
                    * (brand.weekend_factor if weekend else 1.0))
            total_rate += rate
            extra_negative = self._drift_extra_negative(brand.name, hour)
            if extra_negative:
                self.drift["posts"] += rate * extra_negative  # type: ignore[index]
            for _ in range(self.np_rng.poisson(rate)):
                batch.append(self._calm_post(brand, t0_ms + self.rng.randrange(60_000), extra_negative))
        for _ in range(self.np_rng.poisson(total_rate * NOISE_SHARE / (1 - NOISE_SHARE))):
            batch.append(self._noise_post(t0_ms + self.rng.randrange(60_000)))
        if self.launch:
            batch.extend(self._launch_posts(minute, t0_ms))
        if self.viral:
            batch.extend(self._viral_posts(minute, t0_ms))
        return batch

    # ---- post construction

    def _new_id(self, platform: str) -> str:
        self.seq += 1
        return f"{_ID_PREFIX.get(platform, 'xx')}-{self.seq:09d}"

    def _platform(self) -> str:
        return self.platforms[min(bisect.bisect_left(self.platform_cum, self.rng.random()), len(self.platforms) - 1)]

    def _post(self, ms: int, platform: str, text: str, author: _Author, *, brand: str | None = None,
              reshare_of: str | None = None, reply_to: str | None = None, heat: float = 1.0,
              post_id: str | None = None) -> Post:
        rng = self.rng
        post_id = post_id or self._new_id(platform)
        reach = author.followers ** 0.55 * heat
        likes = int(reach * rng.expovariate(1.0) * 0.4)
        reshares = int(likes * rng.random() * 0.15)
        replies = int(likes * rng.random() * 0.08)
        url = None
        if platform == "news":
            url = f"https://news.example.com/{post_id}"
        elif platform == "reddit" and rng.random() < 0.5:
            url = f"https://reddit.example.com/r/all/{post_id}"
        return Post(
            id=post_id, platform=platform, text=text[:10_000], created_at=ms / 1000,
            author_id=author.id, author_handle=author.handle, author_followers=author.followers,
            brand=brand, reshare_of=reshare_of, reply_to=reply_to,
            lang="en" if rng.random() < 0.85 else None, url=url,
            likes=likes, reshares=reshares, replies=replies,
        )

    def _mention(self, brand: BrandProfile) -> Callable[[], str]:
        def mention() -> str:
            roll = self.rng.random()
            if roll < 0.55 or not brand.handles:
                return self.rng.choice(brand.terms)
            if roll < 0.9:
                return self.rng.choice(brand.handles)
            return self.rng.choice(brand.hashtags or brand.terms)
        return mention

    def _dynamic(self, brand: BrandProfile, **extra: Callable[[], str]) -> dict[str, Callable[[], str]]:
        rng = self.rng

        def tag() -> str:
            roll = rng.random()
            if roll < 0.45 and brand.hashtags:
                return rng.choice(brand.hashtags)
            return rng.choice(brand.slots["topic_tag"]) if roll < 0.75 else ""

        return {
            "mention": self._mention(brand),
            "term": lambda: rng.choice(brand.terms),
            "tag": tag,
            "num": lambda: str(rng.randint(2, 12)),
            "price": lambda: f"${rng.randint(5, 95)}",
            "flightno": lambda: f"SK{rng.randint(100, 2999)}",
            **extra,
        }

    def _text(self, template: str, brand: BrandProfile, platform: str, angry: bool,
              **extra: Callable[[], str]) -> str:
        grammar = self.grammar
        text = grammar.expand(template, (brand.slots, _SHARED_SLOTS), self._dynamic(brand, **extra))
        text = grammar.vary(grammar.tidy(text), angry)
        rng = self.rng
        if platform == "reddit" and rng.random() < 0.5:
            text = f"{text} {rng.choice(_REDDIT_TAILS)}"
        elif platform in ("instagram", "tiktok") and rng.random() < 0.6:
            tags = rng.sample(brand.slots["topic_tag"], k=min(2, len(brand.slots["topic_tag"])))
            text = f"{text} {' '.join(tags)}"
        if brand.hashtags and rng.random() < 0.12 and not any(h.lower() in text.lower() for h in brand.hashtags):
            text = f"{text} {rng.choice(brand.hashtags)}"
        return text

    def _calm_post(self, brand: BrandProfile, ms: int, extra_negative: float) -> Post:
        rng = self.rng
        author = self._author()
        recent = self.recent[brand.name]
        roll = rng.random()
        if recent and roll < RESHARE_SHARE:
            target = rng.choice(recent)
            return self._post(ms, target.platform, f"RT @{target.handle}: {target.text}"[:10_000], author,
                              reshare_of=target.id, heat=0.3)
        if recent and roll < RESHARE_SHARE + REPLY_SHARE:
            target = rng.choice(recent)
            template = rng.choice(_NEGATIVE_TEMPLATES + _POSITIVE_TEMPLATES + _NEUTRAL_TEMPLATES)
            text = f"@{target.handle} " + self._text(template, brand, target.platform, angry=False)
            return self._post(ms, target.platform, text, author, reply_to=target.id, heat=0.3)

        platform = self._platform()
        negative = brand.negative_share + extra_negative
        positive = brand.positive_share * (1 - negative) / (1 - brand.negative_share)
        roll = rng.random()
        brand_field = brand.name if rng.random() < BRAND_FIELD_SHARE else None
        if platform == "news":
            text = self._text(rng.choice(_NEWS_TEMPLATES), brand, platform, angry=False)
            text = text[:1].upper() + text[1:]
        elif brand_field and platform == "facebook" and rng.random() < 0.2:
            text = rng.choice(_BRAND_FIELD_ONLY)  # posted on the brand's own page: the source knows the brand
        elif len(self.brands) > 1 and rng.random() < TWO_BRAND_SHARE:
            other = self.brands[rng.choice([b for b in self.brands if b != brand.name])]
            text = self._text(rng.choice(_TWO_BRAND_TEMPLATES), brand, platform, angry=False,
                              mention2=self._mention(other))
            brand_field = None
        elif roll < negative:
            extra = {}
            if extra_negative and rng.random() < extra_negative / negative:
                extra["issue_verb"] = lambda: rng.choice(brand.drift_issues)
            text = self._text(rng.choice(_NEGATIVE_TEMPLATES), brand, platform, angry=True, **extra)
        elif roll < negative + positive:
            text = self._text(rng.choice(_POSITIVE_TEMPLATES), brand, platform, angry=False)
        else:
            text = self._text(rng.choice(_NEUTRAL_TEMPLATES), brand, platform, angry=False)
        post = self._post(ms, platform, text, author, brand=brand_field)
        if platform != "news":
            self.pending.append((brand.name, _Recent(post.id, author.handle, text, platform)))
        return post

    def _noise_post(self, ms: int) -> Post:
        template = self.rng.choice(_NOISE_TEMPLATES)
        text = self.grammar.expand(template, (_SHARED_SLOTS,), {"price": lambda: f"${self.rng.randint(5, 95)}"})
        text = self.grammar.vary(self.grammar.tidy(text), angry=False)
        return self._post(ms, self._platform(), text, self._author())

    def _launch_posts(self, minute: int, t0_ms: int) -> list[Post]:
        ln = self.launch
        assert ln is not None
        since = minute - ln["minute"]
        if since < 0 or since > ln["length"]:
            return []
        brand = self.brands[ln["brand"]]
        rng = self.rng
        begin_ms = t0_ms + round(ln["second"] * 1000) if since == 0 else t0_ms
        out: list[Post] = []
        if since == 0:
            official = _Author(f"official-{brand.name}", brand.handles[0].lstrip("@") if brand.handles else brand.name,
                               310_000)
            text = brand.launch_announcement or f"Meet the new {brand.launch_product}. Out today."
            root = self._post(begin_ms, "twitter", text, official, brand=brand.name, heat=5.0)
            ln["root_id"], ln["root_text"], ln["root_handle"] = root.id, text, official.handle
            out.append(root)
        end_ms = round((self.s.start + ln["minute"] * 60 + ln["second"] + ln["length"] * 60) * 1000)
        rate = brand.base_rate * self.s.scale * LAUNCH_PEAK_RATIO * _burst_rate(
            since + 0.5, LAUNCH_PEAK_MINUTES, LAUNCH_GROWTH_TAU, LAUNCH_DECAY_TAU)
        launch = {"launch": lambda: brand.launch_product or "new product"}
        for _ in range(self.np_rng.poisson(rate)):
            ms = rng.randrange(begin_ms + 1, t0_ms + 60_000)
            if ms >= end_ms:
                continue
            author = self._author()
            roll = rng.random()
            if roll < 0.4:
                out.append(self._post(ms, "twitter", f"RT @{ln['root_handle']}: {ln['root_text']}", author,
                                      reshare_of=ln["root_id"], heat=0.5))
                continue
            platform = self._platform()
            if platform == "news":
                template = rng.choice(_LAUNCH_NEWS)
            elif roll < 0.78:
                template = rng.choice(_LAUNCH_POSITIVE)
            elif roll < 0.97:
                template = rng.choice(_LAUNCH_NEUTRAL)
            else:
                template = rng.choice(_LAUNCH_NEGATIVE)
            text = self._text(template, brand, platform, angry=False, **launch)
            out.append(self._post(ms, platform, text, author))
        ln["posts"] += len(out)
        return out

    def _viral_posts(self, minute: int, t0_ms: int) -> list[Post]:
        vi = self.viral
        assert vi is not None
        since = minute - vi["minute"]
        if since < 0 or since > vi["length"]:
            return []
        brand = self.brands[vi["brand"]]
        rng = self.rng
        out: list[Post] = []
        begin_ms = t0_ms + round(vi["second"] * 1000) if since == 0 else t0_ms
        if since == 0:
            author = _Author("u-viral-root", "jess_on_the_move", 48_200)
            root = self._post(begin_ms, "twitter", brand.viral_root, author, heat=3.0)
            vi["root_id"], vi["root_handle"] = root.id, author.handle
            out.append(root)
        end_ms = round((self.s.start + vi["minute"] * 60 + vi["second"] + vi["length"] * 60) * 1000)
        rate = brand.base_rate * self.s.scale * VIRAL_PEAK_RATIO * _burst_rate(
            since + 0.5, VIRAL_PEAK_MINUTES, VIRAL_GROWTH_TAU, VIRAL_DECAY_TAU)
        handle_mention = self._mention(brand)
        for _ in range(self.np_rng.poisson(rate)):
            ms = rng.randrange(begin_ms + 1, t0_ms + 60_000)
            if ms >= end_ms:
                continue
            author = self._author()
            roll = rng.random()
            if roll < 0.55:
                text = f"RT @{vi['root_handle']}: {brand.viral_root}"
                if rng.random() < 0.2:
                    comment = self.grammar.expand(rng.choice(_QUOTE_COMMENTS), (_SHARED_SLOTS,),
                                                  {"mention": handle_mention})
                    text = f"{comment} {text}"
                out.append(self._post(ms, "twitter", text, author, reshare_of=vi["root_id"], heat=0.5))
            elif roll < 0.70:
                body = self.grammar.expand(rng.choice(_REPLY_BODIES), (_SHARED_SLOTS,), {"mention": handle_mention})
                text = self.grammar.vary(f"@{vi['root_handle']} {body}", angry=True)
                out.append(self._post(ms, "twitter", text, author, reply_to=vi["root_id"]))
            else:
                core = rng.choice(brand.viral_cores)
                template = rng.choice((
                    "{opener_neg} {mention} " + core + ". {emotion_neg} {emoji_neg}",
                    "{mention} " + core + "?? {closer_neg}",
                    "so {mention} " + core + ". {emotion_neg} {tag}",
                    "can't believe {mention} " + core + " {emoji_neg}",
                ))
                platform = self._platform()
                if platform == "news":
                    platform = "twitter"
                out.append(self._post(ms, platform, self._text(template, brand, platform, angry=True), author))
        vi["posts"] += len(out)
        return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000) / 1000


# --------------------------------------------------------------------------- public functions


def generate_posts(scenario: Scenario) -> Iterator[Post]:
    """The scenario's posts in time order (deterministic for a given scenario)."""
    return _Generator(scenario).posts()


@dataclass(frozen=True)
class ScenarioSummary:
    posts: int
    incidents: list[Incident]
    per_brand: dict[str, int]


def write_scenario(scenario: Scenario, out_dir: str | Path) -> ScenarioSummary:
    """Write ``posts.jsonl``, ``labels.json`` and ``README.txt`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = _Generator(scenario)
    count = 0
    per_brand = {b.name: 0 for b in scenario.brands}
    with open(out / "posts.jsonl", "wb") as f:
        lines: list[bytes] = []
        for post in generator.posts():
            lines.append(orjson.dumps(post.to_wire()))
            count += 1
            if post.brand in per_brand:
                per_brand[post.brand] += 1
            if len(lines) >= 5_000:
                f.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            f.write(b"\n".join(lines) + b"\n")
    incidents = generator.incidents()
    labels = {
        "scenario": {
            "seed": scenario.seed, "start": format_timestamp(scenario.start),
            "end": format_timestamp(scenario.end), "days": scenario.days, "scale": scenario.scale,
            "brands": [b.name for b in scenario.brands], "posts": count,
        },
        "incidents": [inc.to_label() for inc in incidents],
    }
    (out / "labels.json").write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2) + b"\n")
    (out / "README.txt").write_text(_readme(scenario, incidents, count), encoding="utf-8")
    return ScenarioSummary(count, incidents, per_brand)


def _readme(scenario: Scenario, incidents: Sequence[Incident], count: int) -> str:
    brands = "\n".join(f"  - {b.name}: terms {', '.join(b.terms)}; hashtags {', '.join(b.hashtags)}; "
                       f"handles {', '.join(b.handles)}; about {b.base_rate * scenario.scale:g} posts/min on "
                       f"an average weekday hour" for b in scenario.brands)
    names = ",".join(b.name for b in scenario.brands)
    if incidents:
        lines = []
        for inc in incidents:
            paging = "should page" if inc.should_page else ("should alert (no page)" if inc.should_alert
                                                            else "should NOT alert")
            lines.append(f"  - {inc.kind} ({inc.brand}), {format_timestamp(inc.start)} to "
                         f"{format_timestamp(inc.end)}, {paging}:\n      {inc.description}")
        listed = "\n".join(lines)
    else:
        listed = "  (none: the scenario is too short; --days 2 fits all three)"
    return f"""Synthetic crisiswatch scenario (crisiswatch generate)

Seed {scenario.seed}, {format_timestamp(scenario.start)} to {format_timestamp(scenario.end)} \
({scenario.days:g} days), scale {scenario.scale:g}: {count} posts.
Regenerate with: crisiswatch generate --out DIR --seed {scenario.seed} --days {scenario.days:g} \
--start {format_timestamp(scenario.start)} --scale {scenario.scale:g} --brands {names}

Files
  posts.jsonl  one post per line in the wire format (streams/schema/post.schema.json), sorted by created_at.
  labels.json  the scenario's parameters and the scripted incidents (start = first incident post,
               end = when it has decayed; times RFC 3339 UTC).
  README.txt   this file.

Calm traffic
  Per brand, a Poisson number of posts each minute around a daily cycle (quietest around 03:00 UTC,
  busiest mid-afternoon), a weekend factor and a slow hourly wobble. Platforms: {', '.join(PLATFORMS)}.
  Most posts carry no "brand" field (the watchlist decides); about {BRAND_FIELD_SHARE:.0%} do. About
  {NOISE_SHARE:.0%} of posts mention no watched brand (noise to be dropped) and about {TWO_BRAND_SHARE:.0%} mention two.
  About {RESHARE_SHARE:.0%} are reshares and {REPLY_SHARE:.0%} replies of recent posts.
  Brands:
{brands}

Incidents
{listed}
"""


def malformed_examples(include_too_large: bool = True) -> list[tuple[bytes, str]]:
    """Raw values that :func:`streams.post.parse_post` must reject, each with its expected reason code.

    For tests of the dead-letter path (the generator itself only writes valid posts).
    The ``too_large`` example is just over 1 MB; pass ``include_too_large=False`` when the
    broker or producer in use caps messages at 1 MB.
    """
    good = {"id": "bad-1", "platform": "twitter", "text": "@SkywayAir lost my bag",
            "created_at": "2026-11-20T09:15:00Z", "author": {"id": "u1", "handle": "ana", "followers": 10}}

    def variant(**changes: Any) -> bytes:
        obj = {**good, **changes}
        return orjson.dumps({k: v for k, v in obj.items() if v is not _DROP})

    examples = [
        (b"this is not json", "not_json"),
        (b'{"id": "x", "text": "cut off mid', "not_json"),
        (b"", "not_json"),
        (b"\xff\xfe\xfa not utf-8 at all", "not_utf8"),
        (b'{"text": "caf\xe9"}', "not_utf8"),
        (b"[1, 2, 3]", "not_object"),
        (b"null", "not_object"),
        (b'"just a string"', "not_object"),
        (b"42", "not_object"),
        (variant(text=_DROP), "missing_field"),
        (variant(author=_DROP), "missing_field"),
        (variant(created_at=None), "missing_field"),
        (variant(author={"id": "u1", "handle": "ana"}), "missing_field"),
        (variant(text=12345), "invalid_field"),
        (variant(id=""), "invalid_field"),
        (variant(author={"id": "u1", "handle": "ana", "followers": "lots"}), "invalid_field"),
        (variant(author={"id": "u1", "handle": "ana", "followers": -5}), "invalid_field"),
        (variant(created_at="2026-11-20T09:15:00"), "invalid_field"),      # naive: no zone
        (variant(created_at="last tuesday"), "invalid_field"),
        (variant(created_at=1795166100), "invalid_field"),                 # epoch number, not RFC 3339
        (variant(engagement={"likes": "many"}), "invalid_field"),
        (variant(engagement=[1, 2]), "invalid_field"),
        (variant(reply_to=77), "invalid_field"),
        (variant(text="a" * 10_001), "text_too_long"),
        (variant(created_at="2099-01-01T00:00:00Z"), "future_timestamp"),
    ]
    if include_too_large:
        examples.append((variant(text="x" * 9_000, pad="y" * 1_000_050), "too_large"))
    return examples


_DROP = object()
