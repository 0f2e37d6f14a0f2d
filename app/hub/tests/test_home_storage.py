"""The home helper's checks that come before any disk is touched (the rest runs in molecule/hub)."""

import argparse
import os

import cfps_home_storage as hs
import pytest


def args_for(tmp_path, **changes):
    images, homes = tmp_path / "images", tmp_path / "homes"
    images.mkdir()
    homes.mkdir()
    argv = ["--images", str(images), "--homes", str(homes), "--quota", "64M", "--reserve", "1G"]
    argv += ["--docker-volumes", str(tmp_path / "volumes"), "--uid", "1000", "--gid", "100"]
    for key, value in changes.items():
        argv[argv.index(f"--{key}") + 1] = value
    parser = argparse.ArgumentParser()
    for flag in ("images", "homes", "docker-volumes"):
        parser.add_argument(f"--{flag}")
    parser.add_argument("--quota", type=hs.parse_bytes)
    parser.add_argument("--reserve", type=hs.parse_bytes)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    return parser.parse_args(argv)


@pytest.mark.parametrize("name", ["", "../x", "a/b", "Alice", "a b", "a" * 129, "x\n"])
def test_names_that_are_not_escaped_user_names_are_refused(tmp_path, name):
    with pytest.raises(hs.Refusal, match="not an escaped user name"):
        hs.prepare_home(args_for(tmp_path), name)
    assert os.listdir(tmp_path / "images") == []


def test_a_home_that_would_eat_the_reserve_is_refused_before_anything_is_written(tmp_path):
    st = os.statvfs(tmp_path)
    free = st.f_bavail * st.f_frsize
    args = args_for(tmp_path, reserve=str(free))
    with pytest.raises(hs.Refusal, match="it keeps for the database and logs"):
        hs.prepare_home(args, "alice-5f01")
    # Only the lock file: no image, no half-made one, no mount point.
    assert os.listdir(tmp_path / "images") == [".lock"]
    assert os.listdir(tmp_path / "homes") == []


@pytest.mark.parametrize(("text", "size"), [("64M", 64 * 1024**2), ("10g", 10 * 1024**3), ("1048576", 1024**2)])
def test_sizes(text, size):
    assert hs.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["10GB", "1.5G", "0", "-1M", ""])
def test_bad_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError):
        hs.parse_bytes(text)


def test_the_command_refuses_a_quota_below_the_minimum(tmp_path, capsys):
    argv = ["--images", str(tmp_path), "--homes", str(tmp_path), "--quota", "16M", "--reserve", "1G"]
    argv += ["--docker-volumes", str(tmp_path), "--uid", "1000", "--gid", "100", "--mount-all"]
    with pytest.raises(SystemExit) as exit_info:
        hs.main(argv)
    assert exit_info.value.code == 2
    assert "--quota must be at least 32M" in capsys.readouterr().err


def test_mount_all_leaves_other_files_alone(tmp_path):
    # Nothing named <escaped name>.img: nothing to mount, success.
    args = args_for(tmp_path)
    for stray in ("notes.txt", ".lock", "Bad Name.img", "x.img.new"):
        (tmp_path / "images" / stray).write_text("")
    assert hs.mount_all(args) == 0
    assert os.listdir(tmp_path / "homes") == []
