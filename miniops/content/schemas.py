"""API bodies and answers of the content app."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema

from miniops.core.schemas import Id, StrictIn

TopicIds = Annotated[list[Id], Field(max_length=3)]


class PostIn(StrictIn):
    text: str = Field(description="at most MINIOPS_CONTENT_MAX_CHARS characters (2,000)")
    images: list[str] = Field(
        default_factory=list, description="addresses from POST /uploads/images, at most 9"
    )
    topics: TopicIds = Field(default_factory=list, description="topic ids, at most 3")


class CommentIn(StrictIn):
    text: str = Field(description="at most 500 characters")
    parent_id: Id | None = Field(None, description="the comment this one answers")


class ReviewIn(StrictIn):
    order_item_id: Id
    rating: int = Field(ge=1, le=5, description="1 to 5, a whole number")
    text: str = Field(description="at most 1,000 characters")
    images: list[str] = Field(default_factory=list, description="at most 9")
    anonymous: bool = False


class FollowUpIn(StrictIn):
    text: str
    images: list[str] = Field(default_factory=list)


class ReportIn(StrictIn):
    kind: Literal["post", "comment", "review"]
    object_id: Id
    reason: Literal["spam", "abuse", "porn", "illegal", "fake", "other"]
    note: str = ""


class AppealIn(StrictIn):
    kind: Literal["post", "comment", "review"]
    object_id: Id
    text: str = Field(description="why the decision is wrong, at most 2,000 characters")


class AuthorOut(Schema):
    id: int | None
    nickname: str
    avatar: str | None


class TopicOut(Schema):
    id: int
    name: str


class TopicDetailOut(Schema):
    id: int
    name: str
    description: str


class StateOut(Schema):
    status: str = Field(description="pending (in review), published, rejected")
    reason: str | None = Field(description="why it was refused")
    hidden: bool
    appeal: str | None = Field(description="open, upheld (refused), overturned (granted)")
    can_appeal: bool


class PostOut(Schema):
    id: int
    author: AuthorOut
    text: str
    images: list[str]
    topics: list[TopicOut]
    likes: int
    comments: int
    favourites: int
    liked: bool
    favourited: bool
    pinned: bool
    featured: bool
    created_at: datetime
    published_at: datetime | None
    state: StateOut | None = Field(description="your own posts only")


class PostPageOut(Schema):
    items: list[PostOut]
    next_cursor: str | None


class ReplyOut(Schema):
    id: int
    post_id: int
    parent_id: int | None
    author: AuthorOut
    text: str
    likes: int
    liked: bool
    created_at: datetime
    state: StateOut | None


class CommentOut(ReplyOut):
    replies: list[ReplyOut]


class CommentPageOut(Schema):
    items: list[CommentOut]
    next_cursor: str | None


class FollowUpOut(Schema):
    id: int
    text: str
    images: list[str]
    created_at: datetime
    state: StateOut | None


class ReviewOut(Schema):
    id: int
    product_id: int
    order_item_id: int
    author: AuthorOut
    rating: int | None
    text: str
    images: list[str]
    anonymous: bool
    likes: int
    created_at: datetime
    follow_up: FollowUpOut | None
    state: StateOut | None


class ReviewPageOut(Schema):
    items: list[ReviewOut]
    next_cursor: str | None


class ReviewSummaryOut(Schema):
    product_id: int
    count: int
    average: float | None
    stars: dict[str, int] = Field(description='counts per star: {"1": n, ..., "5": n}')
    with_pictures: int
    good_rate: float | None = Field(description="share of 4 and 5 stars")


class ReviewableLineOut(Schema):
    order_item_id: int
    order_id: int
    product_id: int
    title: str
    spec: str


class ToggleOut(Schema):
    on: bool = Field(description="liked / favourited after the call")
    changed: bool = Field(description="false when it already was")


class ReportOut(Schema):
    id: int
    kind: str
    object_id: int
    reason: str


class AppealOut(Schema):
    id: int
    state: str


def as_dict(value: Any) -> Any:
    return value
