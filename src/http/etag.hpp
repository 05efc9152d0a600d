#pragma once

// ETags derived from the content (API.md §1): the same bytes give the same
// ETag on every server, so a client may revalidate against any of them.
//
//   if (etag::respond_not_modified(ctx, body)) return;   // 304 sent
//
// The tag is a strong validator: 16 hex digits of XXH3-64 of the body, in
// quotes. XXH3 (libxxhash) is specified byte for byte, so every build on every
// architecture agrees, and it hashes a few KiB in well under a microsecond.

#include <string>
#include <string_view>

namespace surge::http {

class Context;

std::string make_etag(std::string_view content);

// RFC 9110 §13.1.2: true when If-None-Match lists `etag` (weak comparison)
// or is "*".
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag);

// Sets the ETag header for `body`; when the request's If-None-Match matches,
// turns the response into 304 with no body and returns true. Otherwise
// writes `body` as the 200 JSON response and returns false.
bool respond_with_etag(Context& ctx, std::string_view body);

}  // namespace surge::http
