"""The site file's ``[chat]`` table: owners' chat groups tied to buildings, the ladder, privacy (docs/owners.md).

A section of ``facwatch/sitefile.py``: a pydantic model that validates the table and ``to_domain()`` that
gives the ``ChatPolicy`` the alert stages read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt, StringConstraints, model_validator

from facwatch.model import ChatGroup, ChatPolicy
from facwatch.sitetypes import BuildingRef, Id, PersonRef, Section, Template, unique_ids

Platform = Literal["api", "dingtalk", "feishu", "wecom"]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_DEFAULTS = ChatPolicy()


class ChatGroupSection(Section):
    """``[[chat.groups]]``: one owners' group, tied to one building."""

    id: Id = Field(description="the group named in POST /api/v1/chat/messages")
    building: BuildingRef
    name: str | None = Field(default=None, description="shown on the board; default: the id")
    platform: Platform = Field(default="api", description="wecom is reached through a bridge")
    secret: Template = Field(
        default="", description="DingTalk: the robot's app secret; Feishu: the verification token"
    )
    encrypt_key: Template = Field(default="", description="Feishu only: the encrypt key that signs callbacks")
    conversation: Template = Field(
        default="", description="the platform's id of the group (DingTalk conversationId, Feishu chat_id)"
    )
    steward: PersonRef | None = Field(default=None, description="the building's steward (管家), a person id")
    robot: Template = Field(
        default="", description="the group's robot, an apprise URL: facwatch's replies in the group go there"
    )
    lang: Literal["zh", "en", "zh+en"] = Field(default="zh+en", description="language of the replies")
    steward_mobile: Template = Field(
        default="", description="the steward's mobile, @-mentioned through a DingTalk robot"
    )

    @model_validator(mode="after")
    def _signed(self) -> ChatGroupSection:
        if self.platform in ("dingtalk", "feishu") and not self.secret:
            raise ValueError(f"a {self.platform} group needs its secret (the callback is signed)")
        return self

    def to_domain(self) -> ChatGroup:
        return ChatGroup(
            id=self.id,
            building=self.building,
            name=self.id if self.name is None else self.name,
            platform=self.platform,
            secret=self.secret,
            encrypt_key=self.encrypt_key,
            conversation=self.conversation,
            steward=self.steward,
            robot=self.robot,
            lang=self.lang,
            steward_mobile=self.steward_mobile,
        )


class LexiconSection(Section):
    """``[chat.lexicon]``: words a site adds to the shipped lists."""

    elevator: list[Word] = Field(default=[], description="more words for elevators (观光梯)")
    pump: list[Word] = Field(default=[], description="more words for pumps and water")
    power: list[Word] = Field(default=[], description="more words for power")
    complaint: list[Word] = Field(default=[], description="more complaint phrases")
    negative: list[Word] = Field(default=[], description="more words of a negative mood")
    positive: list[Word] = Field(default=[], description="more words of a positive mood")


class ChatSection(Section):
    """``[chat]``: the ladder's thresholds (defaults from practice), privacy, the groups."""

    steward_keywords: PositiveInt = Field(
        default=_DEFAULTS.steward_keywords,
        description="complaint keywords in one group within window_s that call the steward",
    )
    window_s: PositiveFloat = Field(default=_DEFAULTS.window_s, description="seconds")
    mood_s: PositiveFloat = Field(
        default=_DEFAULTS.mood_s, description="a negative mood lasting this long calls the project manager"
    )
    mood_min_messages: PositiveInt = Field(default=_DEFAULTS.mood_min_messages)
    crisis_groups: PositiveInt = Field(
        default=_DEFAULTS.crisis_groups, description="groups at the steward's rung at once: a crisis"
    )
    silent_s: PositiveFloat = Field(default=_DEFAULTS.silent_s)
    keep_days: PositiveFloat = Field(default=_DEFAULTS.keep_days, description="chat text is kept this long")
    manager: PersonRef | None = Field(default=None, description="the project manager (项目经理), a person id")
    groups: Annotated[list[ChatGroupSection], unique_ids("chat group")] = Field(default_factory=list)
    lexicon: LexiconSection = LexiconSection()

    def to_domain(self) -> ChatPolicy:
        words = {key: tuple(value) for key, value in self.lexicon if value}
        return ChatPolicy(
            groups=tuple(g.to_domain() for g in self.groups),
            steward_keywords=self.steward_keywords,
            window_s=self.window_s,
            mood_s=self.mood_s,
            mood_min_messages=self.mood_min_messages,
            crisis_groups=self.crisis_groups,
            silent_s=self.silent_s,
            keep_days=self.keep_days,
            manager=self.manager,
            lexicon=words,
        )
