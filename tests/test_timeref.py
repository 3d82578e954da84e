"""Relative time words in a quote resolved against the article's publication date."""

from __future__ import annotations

from datetime import date

import pytest

from index.timeref import resolve_relative_dates

# The seed article: Wednesday 10 May 2023.
PUBLISHED = date(2023, 5, 10)


def test_the_seed_article_date_is_a_wednesday():
    assert PUBLISHED.weekday() == 2


@pytest.mark.parametrize(
    "text, expected",
    [
        # News reports what happened: a bare weekday is the most recent one.
        (
            "Kishida met Yoon in Seoul on Sunday, where they confirmed progress.",
            [("on Sunday", "2023-05-07")],
        ),
        ("The ministers spoke on Monday.", [("on Monday", "2023-05-08")]),
        ("The ministers spoke on Wednesday.", [("on Wednesday", "2023-05-10")]),
        ("He arrived yesterday.", [("yesterday", "2023-05-09")]),
        (
            "The vote is today and the result comes tomorrow.",
            [("today", "2023-05-10"), ("tomorrow", "2023-05-11")],
        ),
        # The future tense turns a weekday forward.
        ("The ministers will meet on Friday.", [("on Friday", "2023-05-12")]),
        ("The summit is scheduled for Tuesday.", [("Tuesday", "2023-05-16")]),
        ("next Wednesday", [("next Wednesday", "2023-05-17")]),
        ("last Wednesday", [("last Wednesday", "2023-05-03")]),
        ("last Friday", [("last Friday", "2023-05-05")]),
        ("They will meet again next month.", [("next month", "2023-06")]),
        ("Next month the talks resume.", [("Next month", "2023-06")]),
        ("Prices rose last month.", [("last month", "2023-04")]),
        ("this month", [("this month", "2023-05")]),
        ("The talks ended last week.", [("last week", "week of 2023-05-01")]),
        ("next week", [("next week", "week of 2023-05-15")]),
        ("last year", [("last year", "2022")]),
        ("next year", [("next year", "2024")]),
    ],
)
def test_relative_phrases_resolve_against_the_article_date(text, expected):
    assert resolve_relative_dates(text, PUBLISHED) == expected


def test_month_arithmetic_crosses_year_ends():
    assert resolve_relative_dates("next month", date(2023, 12, 5)) == [("next month", "2024-01")]
    assert resolve_relative_dates("last month", date(2023, 1, 31)) == [("last month", "2022-12")]


def test_week_of_a_sunday_article_starts_on_its_monday():
    # 14 May 2023 is a Sunday: "this week" is the week that began on Monday 8 May.
    assert resolve_relative_dates("this week", date(2023, 5, 14)) == [
        ("this week", "week of 2023-05-08")
    ]


def test_phrases_come_in_text_order_and_absolute_dates_are_left_alone():
    text = "On June 2 the ministers met; yesterday they spoke again, and on Sunday they left."
    assert resolve_relative_dates(text, PUBLISHED) == [
        ("yesterday", "2023-05-09"),
        ("on Sunday", "2023-05-07"),
    ]
    assert resolve_relative_dates("from June 2 to 4 in 2023", PUBLISHED) == []
    assert resolve_relative_dates("", PUBLISHED) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        # The verb nearest to the weekday decides, not a future word elsewhere in the quote.
        ("Officials said on Monday that the plan would be delayed.", "2023-05-08"),
        ("Kishida met Yoon in Seoul on Sunday, and the two will meet again in June.", "2023-05-07"),
        ("The minister, who arrived on Monday, will speak at the summit.", "2023-05-08"),
        ("He will go. They met on Friday.", "2023-05-05"),
        ("On Sunday, Kishida met Yoon.", "2023-05-07"),
        # ... and the future still reads forward, passive or opening the sentence.
        ("The summit will be held on Friday.", "2023-05-12"),
        ("The summit is to be held on Friday.", "2023-05-12"),
        ("On Friday, the ministers will meet in Singapore.", "2023-05-12"),
        ("They will travel to Seoul, Busan and Daegu on Sunday.", "2023-05-14"),
        ("The talks resumed. They will meet on Friday.", "2023-05-12"),
    ],
)
def test_the_tense_of_the_nearest_verb_decides_a_weekday(text, expected):
    ((_, resolved),) = resolve_relative_dates(text, PUBLISHED)
    assert resolved == expected


def test_phrases_past_the_end_of_the_calendar_are_left_unresolved():
    # timeref.py: an article dated 9999-12-31 (stored before such dates were refused) made
    # "tomorrow" or "next month" raise OverflowError, crashing the question that quoted it.
    text = "The festival opens tomorrow and runs into next month, says a report from Friday."
    assert resolve_relative_dates(text, date(9999, 12, 31)) == [("Friday", "9999-12-31")]
    assert resolve_relative_dates("It ended yesterday.", date(1, 1, 1)) == []
