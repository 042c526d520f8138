"""The OpenAPI 3.1 description of every /api/v1/ endpoint (and /metrics, /v1/traces), served at
/api/v1/openapi.json. Tests validate the document and real answers of each endpoint against it,
so a change to an answer that is not made here too fails there."""

from typing import Any

VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref_parameter(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


ERROR = _json(_ref("Error"), "The error and what to do about it.")
BEARER: list[dict[str, list]] = [{"proxyToken": []}]


def _errors(*statuses: int) -> dict:
    said = {
        "400": "The request is malformed; `detail` says what is wrong.",
        "401": "No token, or an unknown or revoked one.",
        "403": "The token lacks the scope this endpoint needs.",
        "404": "Nothing to answer yet.",
        "405": "Another method than the one documented.",
        "413": "The body is too large.",
        "415": "The body's encoding is not supported.",
        "503": "The database cannot be reached; retry after `Retry-After` seconds.",
    }
    return {str(status): {**ERROR, "description": said[str(status)]} for status in statuses}


INGEST_ANSWER = _json(
    _ref("IngestAnswer"),
    "Valid items are stored even when others of the batch are rejected.",
)

PATHS: dict[str, Any] = {
    "/api/v1/usage": {
        "post": {
            "operationId": "postUsage",
            "summary": "Send usage events (canonical or LiteLLM StandardLoggingPayload)",
            "description": (
                'A JSON array of events, `{"events": [...]}`, one event, or NDJSON; gzip with '
                "`Content-Encoding: gzip`. At most 10,000 events and 10 MB after gunzip. An id "
                "seen before for the team is a duplicate and changes nothing."
            ),
            "security": BEARER,
            "x-scope": "usage:write",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "array", "items": _ref("UsageEvent")},
                                {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {
                                        "events": {"type": "array", "items": _ref("UsageEvent")}
                                    },
                                },
                                _ref("UsageEvent"),
                            ]
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            },
            "responses": {"200": INGEST_ANSWER, **_errors(400, 401, 403, 405, 413, 415, 503)},
        }
    },
    "/api/v1/scores": {
        "post": {
            "operationId": "postScores",
            "summary": "Attach quality scores (0..1) to events already sent",
            "security": BEARER,
            "x-scope": "usage:write",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "array", "items": _ref("Score")}}
                },
            },
            "responses": {"200": INGEST_ANSWER, **_errors(400, 401, 403, 405, 413, 503)},
        }
    },
    "/api/v1/spend": {
        "get": {
            "operationId": "getSpend",
            "summary": "Spend totals for a period, grouped as asked",
            "description": (
                "Read from the daily rollups. Days are the team's own (`time_zone`); `start` and "
                "`end` are both included. Money is USD and TAO as exact decimal strings."
            ),
            "security": BEARER,
            "x-scope": "spend:read",
            "parameters": [
                {
                    "name": "start",
                    "in": "query",
                    "description": "First day, YYYY-MM-DD (default: the month's first day).",
                    "schema": {"type": "string", "format": "date"},
                },
                {
                    "name": "end",
                    "in": "query",
                    "description": "Last day, YYYY-MM-DD (default: today). At most 3 years.",
                    "schema": {"type": "string", "format": "date"},
                },
                {
                    "name": "group_by",
                    "in": "query",
                    "description": (
                        "Comma-separated, any of day, month, provider, model, task_type, "
                        "route_version, end_user, api_key_alias. Empty: one row of totals."
                    ),
                    "schema": {"type": "string"},
                    "example": "model,day",
                },
                {
                    "name": "page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "default": 1},
                },
                {
                    "name": "page_size",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                },
            ],
            "responses": {
                "200": _json(_ref("SpendAnswer"), "Totals, and one page of grouped rows."),
                **_errors(400, 401, 403, 405, 503),
            },
        }
    },
    "/api/v1/routes": {
        "get": {
            "operationId": "getRoutes",
            "summary": "The latest published routing version",
            "security": BEARER,
            "x-scope": "routes:read",
            "parameters": [_ref_parameter("IfNoneMatch")],
            "responses": {
                "200": {
                    **_json(_ref("RoutingVersion"), "The version, with an ETag."),
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
                **_errors(401, 403, 404, 405, 503),
            },
        }
    },
    "/api/v1/routes/litellm.yaml": {
        "get": {
            "operationId": "getRoutesLitellmYaml",
            "summary": "The same version as a LiteLLM proxy config",
            "security": BEARER,
            "x-scope": "routes:read",
            "parameters": [_ref_parameter("IfNoneMatch")],
            "responses": {
                "200": {
                    "description": "model_list with weights, router_settings and fallbacks.",
                    "content": {"application/yaml": {"schema": {"type": "string"}}},
                },
                "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
                **_errors(401, 403, 404, 405, 503),
            },
        }
    },
    "/api/v1/keys": {
        "get": {
            "operationId": "getKeys",
            "summary": "The team's active provider keys (every read is audited)",
            "security": BEARER,
            "x-scope": "keys:read",
            "parameters": [_ref_parameter("IfNoneMatch")],
            "responses": {
                "200": _json(_ref("Keys"), "The keys with their secrets: never cached."),
                "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
                **_errors(401, 403, 405, 503),
            },
        }
    },
    "/api/v1/proxy/heartbeat": {
        "post": {
            "operationId": "postProxyHeartbeat",
            "summary": "A proxy's companion says what it runs",
            "security": BEARER,
            "x-scope": "routes:read",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("Heartbeat")}},
            },
            "responses": {
                "200": _json(_ref("HeartbeatAnswer"), "Recorded."),
                **_errors(400, 401, 403, 405, 413, 503),
            },
        }
    },
    "/api/v1/health": {
        "get": {
            "operationId": "getHealth",
            "summary": "Database and broker reachability; no token",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "Everything answers."),
                "503": _json(_ref("Health"), "Something does not: the fields say what."),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This description",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
        }
    },
    "/metrics": {
        "get": {
            "operationId": "getMetrics",
            "summary": "Prometheus metrics (a spend:read token, or a network in "
            "METRICS_ALLOWED_NETWORKS)",
            "security": [{"proxyToken": []}, {}],
            "x-scope": "spend:read",
            "responses": {
                "200": {
                    "description": "The Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors(401, 403, 405, 503),
            },
        }
    },
    "/v1/traces": {
        "post": {
            "operationId": "postTraces",
            "summary": "OTLP/HTTP traces: GenAI spans become usage events",
            "security": BEARER,
            "x-scope": "usage:write",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            },
            "responses": {
                "200": {"description": "ExportTraceServiceResponse, with our counts in JSON."},
                **_errors(400, 401, 403, 405, 413, 415, 503),
            },
        }
    },
}


DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
COUNT = {"type": "integer", "minimum": 0}
SPEND_SUMS = {
    "requests": COUNT,
    "errors": COUNT,
    "input_tokens": COUNT,
    "output_tokens": COUNT,
    "cached_input_tokens": COUNT,
    "cache_write_tokens": COUNT,
    "unpriced_requests": COUNT,
    "tao_missing_requests": COUNT,
    "cost_usd": DECIMAL,
    "tao": DECIMAL,
}
TARGET = {
    "type": "object",
    "required": ["provider", "model", "api_base"],
    "properties": {
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "api_base": {"type": "string"},
        "weight": {"type": "integer", "minimum": 0, "maximum": 100},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    },
    "UsageEvent": {
        "type": "object",
        "description": "The canonical form; a LiteLLM StandardLoggingPayload is accepted too.",
        "properties": {
            "id": {"type": "string", "maxLength": 255},
            "timestamp": {"type": ["string", "number"]},
            "provider": {"type": "string"},
            "model": {"type": "string"},
            "task_type": {"type": "string"},
            "end_user": {"type": "string", "maxLength": 200},
            "api_key_alias": {"type": "string", "maxLength": 200},
            "route_version": {"type": "integer", "minimum": 1},
            "status": {"enum": ["success", "error"]},
            "error_type": {"type": "string"},
            "input_tokens": COUNT,
            "output_tokens": COUNT,
            "cached_input_tokens": COUNT,
            "cache_write_tokens": COUNT,
            "latency_ms": COUNT,
            "ttft_ms": COUNT,
            "cost_usd": {"type": ["string", "number"]},
            "quality_score": {"type": "number", "minimum": 0, "maximum": 1},
            "metadata": {"type": "object"},
        },
    },
    "Score": {
        "type": "object",
        "required": ["event_id", "score"],
        "properties": {
            "event_id": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "evaluator": {"type": "string"},
            "comment": {"type": "string"},
        },
    },
    "IngestAnswer": {
        "type": "object",
        "required": ["accepted", "duplicates", "rejected"],
        "properties": {
            "accepted": COUNT,
            "duplicates": COUNT,
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "id", "errors"],
                    "properties": {
                        "index": COUNT,
                        "id": {"type": ["string", "null"]},
                        "errors": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "SpendSums": {
        "type": "object",
        "required": list(SPEND_SUMS),
        "properties": SPEND_SUMS,
    },
    "SpendRow": {
        "description": "The sums, and the value of each group asked for.",
        "allOf": [_ref("SpendSums")],
        "properties": {
            "day": {"type": "string", "format": "date"},
            "month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
            "provider": {"type": "string"},
            "model": {"type": "string"},
            "task_type": {"type": "string"},
            "route_version": {"type": "integer", "minimum": 0},
            "end_user": {"type": "string"},
            "api_key_alias": {"type": "string"},
        },
    },
    "SpendAnswer": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "team",
            "time_zone",
            "start",
            "end",
            "group_by",
            "currency",
            "totals",
            "rows",
            "page",
            "page_size",
            "pages",
            "row_count",
            "next",
        ],
        "properties": {
            "team": {"type": "string"},
            "time_zone": {"type": "string"},
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date"},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "currency": {"const": "USD"},
            "totals": _ref("SpendSums"),
            "rows": {"type": "array", "items": _ref("SpendRow")},
            "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1},
            "pages": {"type": "integer", "minimum": 1},
            "row_count": COUNT,
            "next": {"type": ["string", "null"], "format": "uri"},
        },
    },
    "RoutingVersion": {
        "type": "object",
        "required": ["version", "published_at", "comment", "rules"],
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "published_at": {"type": "string", "format": "date-time"},
            "comment": {"type": "string"},
            "rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["task_type", "enabled", "targets", "fallbacks"],
                    "properties": {
                        "task_type": {"type": "string"},
                        "enabled": {"type": "boolean"},
                        "description": {"type": "string"},
                        "targets": {"type": "array", "items": TARGET},
                        "fallbacks": {"type": "array", "items": TARGET},
                    },
                },
            },
        },
    },
    "Keys": {
        "type": "object",
        "required": ["team", "keys"],
        "properties": {
            "team": {"type": "string"},
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["provider", "label", "secret", "base_url", "fingerprint"],
                    "properties": {
                        "provider": {"type": "string"},
                        "label": {"type": "string"},
                        "secret": {"type": "string"},
                        "base_url": {"type": "string"},
                        "fingerprint": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "Heartbeat": {
        "type": "object",
        "required": ["instance_id"],
        "properties": {
            "instance_id": {"type": "string", "maxLength": 100},
            "host": {"type": "string", "maxLength": 255},
            "litellm_version": {"type": "string", "maxLength": 50},
            "plugin_version": {"type": "string", "maxLength": 50},
            "routing_version": {"type": ["integer", "null"], "minimum": 0},
            "routing_error": {"type": "string", "maxLength": 2000},
            "last_sync_at": {"type": ["string", "null"], "format": "date-time"},
            "spool_depth": COUNT,
            "spool_bytes": COUNT,
            "shipped": COUNT,
            "dead_lettered": COUNT,
            "dropped": COUNT,
        },
    },
    "HeartbeatAnswer": {
        "type": "object",
        "required": ["ok", "published_version"],
        "properties": {
            "ok": {"const": True},
            "published_version": {"type": ["integer", "null"]},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "broker"],
        "properties": {
            "status": {"enum": ["ok", "degraded"]},
            "database": {"type": "boolean"},
            "broker": {"type": "boolean"},
        },
    },
}


def openapi_document(server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LLM Spend API",
            "version": VERSION,
            "description": (
                "What a proxy, a script or a BI tool calls. Every endpoint but health and this "
                "description takes a team's proxy token as `Authorization: Bearer <token>`; "
                "`x-scope` names the scope the token needs."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "proxyToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A team's token from its Tokens page (create_proxy_token).",
                }
            },
            "parameters": {
                "IfNoneMatch": {
                    "name": "If-None-Match",
                    "in": "header",
                    "description": "The ETag of the copy held: 304 when it is still current.",
                    "schema": {"type": "string"},
                }
            },
            "schemas": SCHEMAS,
        },
    }
