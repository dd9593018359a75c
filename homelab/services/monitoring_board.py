"""The monitoring board: one Prometheus console page, generated from the platform model.

The page is a Go template that Prometheus fills in when it is viewed (its ``{{ query }}``
cells); it is written here in Python, not as a jinja2 template under ``templates/``, because
both template languages use the same ``{{ }}`` delimiters. The model decides its rows: every
host and enabled daemon, every alias and handle, the weights' mount points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homelab.model.platform import Platform

_BOARD_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }
th { background: #eee; }
.up { color: #fff; background: #2a7d2a; padding: 0 0.4em; }
.down { color: #fff; background: #b22; padding: 0 0.4em; }
.none { color: #888; }
"""


def _state(promql: str) -> str:
    """A cell: up or down by a 0/1 query, or no data."""
    return (
        f"{{{{ with query `{promql}` }}}}{{{{ if eq (. | first | value) 1.0 }}}}"
        '<span class="up">up</span>{{ else }}<span class="down">down</span>{{ end }}'
        '{{ else }}<span class="none">no data</span>{{ end }}'
    )


def _number(promql: str, fmt: str = "%.2f") -> str:
    """A cell: a query's value, or a dash when it has none."""
    return (
        f'{{{{ with query `{promql}` }}}}{{{{ . | first | value | printf "{fmt}" }}}}'
        '{{ else }}<span class="none">-</span>{{ end }}'
    )


def board_html(platform: Platform, host: str, weights_mounts: str) -> str:
    """The board: a Prometheus console page, rendered from the model (which hosts, daemons,
    names and volumes there are); Prometheus fills in the values when it is viewed.
    ``weights_mounts``: a PromQL regular expression of the weights' mount points."""
    from homelab.services.litellm import gateway_host
    from homelab.services.node_exporter import SERVICE as NODE

    rows: list[str] = []
    for name in platform.hosts:
        rows.append(
            f'<tr class="host"><th colspan="5">{name} ({platform.addresses[name]})</th></tr>'
        )
        for d in platform.daemons(name):
            if not d.enabled:
                continue
            # The node exporter reports the others' units; its own state is whether it answers.
            running = _state(
                f'max(up{{job="node",host="{name}"}})'
                if d.name == NODE.name
                else f'max(node_systemd_unit_state{{host="{name}",name="{d.unit}",state="active"}})'
            )
            health = _state(f'max(probe_success{{job="health",host="{name}",daemon="{d.name}"}})')
            restarts = _number(
                f'sum(increase(node_systemd_service_restart_total{{host="{name}",'
                f'name="{d.unit}"}}[10m]))',
                "%.0f",
            )
            rows.append(
                f'<tr class="daemon" data-host="{name}" data-daemon="{d.name}"><td>{name}</td>'
                f"<td>{d.name}</td><td>{running}</td><td>{health}</td><td>{restarts}</td></tr>"
            )
    names = [a.name for a in platform.gateway.aliases] + [h.handle for h in platform.handles()]
    traffic: list[str] = []
    for n in names:
        sel = f'requested_model="{n}"'
        latency = (
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(litellm_request_total_latency_metric_bucket{{{sel}}}[5m])))"
        )
        requests = f"sum(rate(litellm_proxy_total_requests_metric_total{{{sel}}}[5m]))"
        tokens = f"sum(rate(litellm_output_tokens_metric_total{{{sel}}}[5m]))"
        errors = f"sum(rate(litellm_proxy_failed_requests_metric_total{{{sel}}}[5m]))"
        probe = f'max(probe_success{{job="chat",model="{n}"}})'
        cells = [_number(requests), _number(latency), _number(tokens), _number(errors)]
        traffic.append(
            f"<tr><td>{n}</td>{''.join(f'<td>{c}</td>' for c in cells)}"
            f"<td>{_state(probe)}</td></tr>"
        )
    disk = (
        f'100 * (1 - node_filesystem_avail_bytes{{mountpoint=~"{weights_mounts}"}} '
        f'/ node_filesystem_size_bytes{{mountpoint=~"{weights_mounts}"}})'
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<!-- The board: rendered from the platform model; edits are overwritten. -->",
            '<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">',
            f"<title>homelab-llm board</title><style>{_BOARD_STYLE}</style></head><body>",
            "<h1>homelab-llm</h1>",
            f"<p>Prometheus on {host}; the gateway on {gateway_host(platform)}. "
            "Refreshes every 30 s; rates over 5 minutes.</p>",
            "<h2>Hosts and daemons</h2>",
            '<table id="daemons"><tr><th>host</th><th>daemon</th><th>running</th>'
            "<th>health</th><th>restarts (10 min)</th></tr>",
            *rows,
            "</table>",
            "<h2>Aliases and handles (the gateway's metrics)</h2>",
            '<table id="traffic"><tr><th>name</th><th>requests/s</th><th>p95 latency (s)</th>'
            "<th>output tokens/s</th><th>errors/s</th><th>chat probe</th></tr>",
            *traffic,
            "</table>",
            "<h2>Weights disk</h2>",
            '<table id="disk"><tr><th>host</th><th>mount</th><th>used</th></tr>',
            f"{{{{ range query `{disk}` }}}}<tr><td>{{{{ .Labels.host }}}}</td>"
            '<td>{{ .Labels.mountpoint }}</td><td>{{ .Value | printf "%.1f" }} %</td></tr>'
            "{{ end }}",
            "</table>",
            "</body></html>",
            "",
        ]
    )
