"""`imagery-archive restore` never writes outside its folder, never replaces a live object, never mistakes another
object for the original it fetched. Against the local S3 server, with archived keys an uploader chose.
"""

from __future__ import annotations

from pathlib import Path

from imagery_archive_cli.operations import restore

ORIGINAL = b"the archived original " * 50


def archived(buckets, key: str, body: bytes = ORIGINAL, storage_class: str = "GLACIER_IR") -> None:
    """An archived copy as the pipeline leaves it: S3 computed its CRC-64/NVME as it copied it."""
    buckets.client.put_object(
        Bucket=buckets.output, Key=key, Body=body, StorageClass=storage_class, ChecksumAlgorithm="CRC64NVME"
    )


def run(buckets, *extra: str) -> int:
    return restore.main(["--output-bucket", buckets.output, "--prefix", "archive/", "--yes", *extra])


def test_downloads_never_leave_the_folder_and_name_each_refused_key(buckets, tmp_path, capsys):
    folder = tmp_path / "inside" / "originals"
    escapes = ["archive/d/../../../escaped.tif", "archive//tmp-absolute.tif"]
    for key in [*escapes, "archive/d/fine.tif"]:
        archived(buckets, key)

    code = run(buckets, "--download", str(folder))

    assert code == 1, "refused keys make the run fail, once the rest is fetched"
    assert (folder / "d" / "fine.tif").read_bytes() == ORIGINAL
    assert not (tmp_path / "escaped.tif").exists()
    assert not (tmp_path / "inside" / "escaped.tif").exists()
    assert not Path("/tmp-absolute.tif").exists()
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()) == [
        "inside/originals/d/fine.tif"
    ]
    err = capsys.readouterr().err
    for key in escapes:
        assert f"refused s3://{buckets.output}/{key}" in err, f"{key} is named"


def test_a_copy_never_replaces_a_live_object(buckets, capsys):
    archived(buckets, "archive/d/scene.tif")
    live = b"a newer upload, not archived yet"
    buckets.client.put_object(Bucket=buckets.input, Key="d/scene.tif", Body=live)

    code = run(buckets, "--copy-to", f"{buckets.input}/")

    assert code == 1
    body = buckets.client.get_object(Bucket=buckets.input, Key="d/scene.tif")["Body"].read()
    assert body == live, "the live upload is kept"
    assert f"refused s3://{buckets.output}/archive/d/scene.tif" in capsys.readouterr().err


def test_a_copy_made_earlier_is_recognised_by_its_checksum(buckets, capsys):
    archived(buckets, "archive/d/scene.tif")
    assert run(buckets, "--copy-to", f"{buckets.input}/restored/") == 0
    assert run(buckets, "--copy-to", f"{buckets.input}/restored/") == 0
    assert "fetched 0 now, 1 fetched earlier" in capsys.readouterr().out
    assert buckets.client.get_object(Bucket=buckets.input, Key="restored/d/scene.tif")["Body"].read() == ORIGINAL


def test_an_object_of_the_same_size_is_not_taken_for_the_original(buckets, tmp_path, capsys):
    archived(buckets, "archive/d/scene.tif")
    impostor = bytes(reversed(ORIGINAL))
    assert len(impostor) == len(ORIGINAL)
    local = tmp_path / "d" / "scene.tif"
    local.parent.mkdir()
    local.write_bytes(impostor)
    buckets.client.put_object(Bucket=buckets.input, Key="copies/d/scene.tif", Body=impostor)

    assert run(buckets, "--download", str(tmp_path)) == 0
    assert "fetched 1 now, 0 fetched earlier" in capsys.readouterr().out
    assert local.read_bytes() == ORIGINAL, "the download replaced a file that was not the original"

    assert run(buckets, "--copy-to", f"{buckets.input}/copies/") == 1
    out, err = capsys.readouterr()
    assert "1 fetched earlier" not in out
    assert "not replaced" in err
    body = buckets.client.get_object(Bucket=buckets.input, Key="copies/d/scene.tif")["Body"].read()
    assert body == impostor, "an object in the destination bucket is never replaced"
