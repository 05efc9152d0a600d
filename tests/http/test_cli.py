"""The `surge` binary's command line (API.md §7): every subcommand takes
--help (exit 0, usage on stdout) and --config; bad settings exit 2 naming
the setting; an unknown subcommand is refused."""

from __future__ import annotations

import subprocess

SUBCOMMANDS = ["serve", "worker", "migrate", "config", "token", "publish", "seed"]


def run(surge_bin, *args, env=None):
    return subprocess.run([str(surge_bin), *args], capture_output=True, text=True, timeout=30,
                          env=env)


def test_help_everywhere(surge_bin):
    top = run(surge_bin, "--help")
    assert top.returncode == 0
    for sub in SUBCOMMANDS:
        assert sub in top.stdout, sub
        r = run(surge_bin, sub, "--help")
        assert r.returncode == 0, (sub, r.stderr)
        assert "--config" in r.stdout and "Usage" in r.stdout, (sub, r.stdout)


def test_config_prints_effective_settings_from_file_and_environment(surge_bin, tmp_path):
    cfg = tmp_path / "surge.toml"
    cfg.write_text('[server]\nport = 9123\n[log]\nlevel = "warn"\n')
    import os
    env = dict(os.environ)
    env["SURGE_LOG_LEVEL"] = "error"
    r = run(surge_bin, "config", "--config", str(cfg), env=env)
    assert r.returncode == 0, r.stderr
    assert "port = 9123" in r.stdout and 'level = "error"' in r.stdout


def test_bad_setting_exits_2_naming_it(surge_bin, tmp_path):
    import os
    env = dict(os.environ)
    env["SURGE_SERVER_PORT"] = "seventy"
    r = run(surge_bin, "config", env=env)
    assert r.returncode == 2
    assert "server.port" in r.stderr and "SURGE_SERVER_PORT" in r.stderr


def test_unknown_subcommand_is_refused(surge_bin):
    r = run(surge_bin, "frobnicate")
    assert r.returncode != 0 and r.stderr


def test_config_on_the_command_line_wins_over_surge_config(surge_bin, tmp_path):
    # `export $(scripts/cluster env)` sets SURGE_CONFIG; a --config given
    # next must still be the file every subcommand reads.
    import os
    cluster = tmp_path / "cluster.toml"
    cluster.write_text('[server]\nport = 9001\n[auth]\ntoken_secret = "cluster-secret"\n')
    other = tmp_path / "other.toml"
    other.write_text('[server]\nport = 9002\n[auth]\ntoken_secret = "other-secret"\n')
    env = dict(os.environ, SURGE_CONFIG=str(cluster))
    r = run(surge_bin, "config", "--config", str(other), env=env)
    assert r.returncode == 0, r.stderr
    assert "port = 9002" in r.stdout, r.stdout
    assert run(surge_bin, "config", env=env).stdout.count("port = 9001") == 1
    with_other = run(surge_bin, "token", "--config", str(other), "--users", "7", env=env)
    only_other = run(surge_bin, "token", "--config", str(other), "--users", "7",
                     env={k: v for k, v in env.items() if k != "SURGE_CONFIG"})
    assert with_other.returncode == 0 and with_other.stdout == only_other.stdout
    missing = run(surge_bin, "token", "--config", str(tmp_path / "absent.toml"), "--users", "7",
                  env=env)
    assert missing.returncode == 2 and "absent.toml" in missing.stderr
