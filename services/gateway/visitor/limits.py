"""The visitor socket's limits, in one place so operators and tests can read (and tune) them."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from shared.ratelimit import RateLimiter


@dataclass
class Limits:
    # A frame above `soft_frame_bytes` gets a `too_large` error and the socket stays
    # up; above `hard_frame_bytes` aiohttp closes the socket (1009) without reading it.
    soft_frame_bytes: int = 16 * 1024
    hard_frame_bytes: int = 32 * 1024
    max_text_chars: int = 4000
    hello_timeout: float = 10.0
    heartbeat: float = 25.0
    connections_per_ip: int = 20
    frames_per_second: float = 5.0
    frames_burst: float = 20.0
    ip_frames_per_second: float = 20.0
    ip_frames_burst: float = 60.0
    messages_per_second: float = 1.0
    messages_burst: float = 8.0
    connects_per_second_per_ip: float = 2.0
    connects_burst_per_ip: float = 30.0
    new_visitors_per_second_per_ip: float = 0.5
    new_visitors_burst_per_ip: float = 30.0
    # after this many refused frames in a short while the socket is closed (1008)
    strikes_burst: float = 10.0
    strikes_per_second: float = 0.5
    # the widget asks for an email when no agent answered within this many seconds
    email_prompt_after: float = 60.0
    token_ttl_days: int = 400


@dataclass
class Limiters:
    limits: Limits
    frames: RateLimiter = field(init=False)
    ip_frames: RateLimiter = field(init=False)
    messages: RateLimiter = field(init=False)
    connects: RateLimiter = field(init=False)
    new_visitors: RateLimiter = field(init=False)
    strikes: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        lim = self.limits
        self.frames = RateLimiter(lim.frames_per_second, lim.frames_burst)
        self.ip_frames = RateLimiter(lim.ip_frames_per_second, lim.ip_frames_burst)
        self.messages = RateLimiter(lim.messages_per_second, lim.messages_burst)
        self.connects = RateLimiter(lim.connects_per_second_per_ip, lim.connects_burst_per_ip)
        self.new_visitors = RateLimiter(
            lim.new_visitors_per_second_per_ip, lim.new_visitors_burst_per_ip
        )
        self.strikes = RateLimiter(lim.strikes_per_second, lim.strikes_burst)


LIMITS = web.AppKey("visitor_limits", Limits)
