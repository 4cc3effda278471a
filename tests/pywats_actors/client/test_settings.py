"""Client settings: base URL normalisation, validation, and keeping the token out of logs."""

from __future__ import annotations

import msgspec
import pytest

from pywats_actors.client import WatsClientSettings, normalize_base_url


class TestNormalizeBaseUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "https://acme.wats.com",
            "https://acme.wats.com/",
            "https://acme.wats.com/api",
            "https://acme.wats.com/api/",
            "https://acme.wats.com/API",
            "  https://acme.wats.com//  ",
        ],
    )
    def test_trailing_slash_and_api_are_stripped(self, url: str) -> None:
        """A trailing slash and a trailing /api (any case) are removed, as pyWATS does."""
        assert normalize_base_url(url) == "https://acme.wats.com"

    def test_path_prefix_is_kept(self) -> None:
        """A server mounted under a path keeps that path."""
        assert normalize_base_url("http://host:8080/wats/api/") == "http://host:8080/wats"

    def test_only_one_api_is_stripped(self) -> None:
        """Only the last /api segment is the API root marker."""
        assert normalize_base_url("http://host/api/api") == "http://host/api"

    @pytest.mark.parametrize(
        "url",
        [
            "acme.wats.com",
            "ftp://acme.wats.com",
            "https://",
            "http://host:0",
            "http://host:99999",
            "http://host/?x=1",
            "http://host/#top",
            "",
        ],
    )
    def test_bad_url_is_refused(self, url: str) -> None:
        """A URL that is not an absolute http(s) URL with a host is a clear ValueError."""
        with pytest.raises(ValueError, match="base URL"):
            normalize_base_url(url)


class TestWatsClientSettings:
    def test_defaults_follow_the_upload_policy(self) -> None:
        """The default timeouts are those of the proposed upload policy."""
        settings = WatsClientSettings(base_url="https://acme.wats.com", token="abc")
        assert (settings.connect_timeout, settings.read_timeout) == (5.0, 30.0)
        assert (settings.write_timeout, settings.pool_timeout) == (30.0, 5.0)
        assert settings.attempt_timeout == 90.0

    def test_repr_hides_the_token(self) -> None:
        """The token never appears in the repr, so it cannot leak into a log line."""
        settings = WatsClientSettings(base_url="https://acme.wats.com", token="s3cr3t-t0k3n")
        assert "s3cr3t" not in repr(settings)
        assert "acme.wats.com" in repr(settings)

    def test_decoding_names_the_bad_field(self) -> None:
        """Decoding from configuration data names the offending field."""
        with pytest.raises(msgspec.ValidationError, match=r"\$\.read_timeout"):
            msgspec.convert(
                {"base_url": "https://x", "token": "t", "read_timeout": -1}, WatsClientSettings
            )

    def test_unknown_field_is_refused(self) -> None:
        """A misspelt setting is an error, not silently ignored."""
        with pytest.raises(msgspec.ValidationError, match="read_timout"):
            msgspec.convert(
                {"base_url": "https://x", "token": "t", "read_timout": 1}, WatsClientSettings
            )

    def test_bad_base_url_is_refused_on_decode(self) -> None:
        """A bad base URL fails when the settings are built, not at the first upload."""
        with pytest.raises(msgspec.ValidationError, match="base URL"):
            msgspec.convert({"base_url": "wats.local", "token": "t"}, WatsClientSettings)

    @pytest.mark.parametrize("token", ["", " padded ", "line\nbreak", "tøken"])
    def test_bad_token_is_refused(self, token: str) -> None:
        """An empty, padded, multi-line or non-ASCII token cannot become a header."""
        with pytest.raises(ValueError, match="token"):
            WatsClientSettings(base_url="https://x", token=token)

    def test_settings_are_frozen(self) -> None:
        """Settings cannot change under a running client."""
        settings = WatsClientSettings(base_url="https://x", token="t")
        with pytest.raises(AttributeError):
            settings.token = "other"  # type: ignore[misc]
