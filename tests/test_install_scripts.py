"""The install scripts of issue 27 on bad input: one line, never a traceback; and the pinned
digest of the libgpuarray 0.7.6 source tree (computed from the release, not its packing)."""
import gzip
import importlib.util
import io
import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_gpuarray = _load("build_gpuarray")
install_theano = _load("install_theano")
source_archive = sys.modules["source_archive"]      # imported by both from scripts/


def _vendor_source():
    """The local copy of the release (the tests' stand-in for the download), if present."""
    for path in (os.environ.get("LIBGPUARRAY_SOURCE", ""),
                 os.path.join(ROOT, "..", "shared", "vendor", "libgpuarray-0.7.6.tar.gz"),
                 "/work/shared/vendor/libgpuarray-0.7.6.tar.gz"):
        if path and os.path.isfile(path):
            return path
    pytest.skip("no local libgpuarray-0.7.6.tar.gz (set LIBGPUARRAY_SOURCE)")


def _verify(source):
    env = dict(os.environ, LIBGPUARRAY_SOURCE=str(source))
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "build_gpuarray.py"),
                           "--verify"], env=env, capture_output=True, text=True, timeout=120)


def _one_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("[bootstrap] ") and "Traceback" not in proc.stderr
    return lines[0]


def test_release_tree_digest_is_pinned_and_independent_of_packing(tmp_path):
    source = _vendor_source()
    top, digest = build_gpuarray.tree_digest(source)
    assert top == "libgpuarray-0.7.6" and digest == build_gpuarray.TREE_SHA256
    # the same files repacked (other timestamps, owners, order, compression level): same digest
    repacked = tmp_path / "repacked.tar.gz"
    with tarfile.open(source) as src, tarfile.open(repacked, "w:gz", compresslevel=1) as dst:
        for m in reversed(src.getmembers()):
            data = src.extractfile(m).read() if m.isfile() else None
            m.mtime, m.uid, m.gid, m.uname, m.gname = 0, 1234, 1234, "x", "x"
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    assert build_gpuarray.tree_digest(repacked)[1] == digest
    assert "source verified" in _verify(repacked).stdout


def test_a_changed_file_fails_the_check_in_one_line(tmp_path):
    source = _vendor_source()
    changed = tmp_path / "changed.tar.gz"
    with tarfile.open(source) as src, tarfile.open(changed, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("src/gpuarray_array.c"):
                data += b"\n/* one more line */\n"
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    line = _one_line(_verify(changed))
    assert "is not the libgpuarray 0.7.6 release" in line and build_gpuarray.TREE_SHA256 in line


def test_bad_archives_fail_in_one_line(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar file at all" * 100))
    assert "not a readable .tar.gz" in _one_line(_verify(junk))
    assert "is not a file" in _one_line(_verify(tmp_path / "missing.tar.gz"))
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("libgpuarray-0.7.6/../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    assert "unsafe path" in _one_line(_verify(evil))


def test_a_missing_build_tool_is_named(monkeypatch):
    real = build_gpuarray.shutil.which
    monkeypatch.setattr(build_gpuarray.shutil, "which",
                        lambda tool: None if tool == "cmake" else real(tool))
    with pytest.raises(build_gpuarray.Failure, match=r"cmake not found; install cmake"):
        build_gpuarray.check_tools()


def test_theano_sdist_is_checked_before_it_is_built(tmp_path, monkeypatch):
    fake = tmp_path / "not-theano.tar.gz"
    fake.write_bytes(b"something else")
    monkeypatch.setenv("THEANO_PYMC_SDIST", str(fake))
    with pytest.raises(install_theano.Failure, match="has SHA-256 .*expected 5da6c224"):
        install_theano.fetch(str(tmp_path))


def test_bootstrap_refuses_a_missing_python_in_one_line():
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "bootstrap.sh")],
                          env=dict(os.environ, PYTHON="/nonexistent/python3", VENV="/nonexistent"),
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "not found; set PYTHON=" in proc.stderr


def test_versioned_driver_libraries_suffice_for_the_built_libgpuarray(monkeypatch):
    """The libgpuarray we build also loads libcuda.so.1, libnvrtc.so.12, ... (dyn_load.c edit),
    so rcnreid's CUDA check must not ask for an `ln -s` there; a distribution's still needs it."""
    from rcnreid.backend import gpu_probe as gpu_env
    assert ".1" in build_gpuarray.EDITS["src/loaders/dyn_load.c"][0][1]
    for suffix in gpu_env.BUILT_LIBGPUARRAY_SUFFIXES:
        assert '"%s"' % suffix in build_gpuarray.EDITS["src/loaders/dyn_load.c"][0][1]
    monkeypatch.setattr(gpu_env, "_loadable", lambda name: name == "libcuda.so.1")
    monkeypatch.setattr(gpu_env, "_versioned_copy", lambda name: "/usr/lib/libcuda.so.1")
    monkeypatch.setattr(gpu_env, "built_libgpuarray", lambda: True)
    assert gpu_env.library_problem("libcuda.so", "the driver", "the driver") is None
    monkeypatch.setattr(gpu_env, "built_libgpuarray", lambda: False)
    assert "ln -s" in gpu_env.library_problem("libcuda.so", "the driver", "the driver")


@pytest.fixture
def served(tmp_path):
    """A folder served over http on localhost (the download path without the internet)."""
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_both_scripts_obtain_their_archive_by_the_shared_module(served, monkeypatch):
    """A local file is used where it lies; an http(s) URL in the variable is downloaded; what
    was obtained is then checked by each script's own pin."""
    folder, url = served
    (folder / "Theano-PyMC-1.1.2.tar.gz").write_bytes(b"not the sdist")
    dest = folder / "dest"
    dest.mkdir()
    assert install_theano.Failure is build_gpuarray.Failure is source_archive.Failure
    monkeypatch.setenv("THEANO_PYMC_SDIST", url + "Theano-PyMC-1.1.2.tar.gz")
    with pytest.raises(source_archive.Failure, match="has SHA-256 .*expected 5da6c224"):
        install_theano.fetch(str(dest))
    assert (dest / "Theano-PyMC-1.1.2.tar.gz").read_bytes() == b"not the sdist"   # downloaded
    local = folder / "libgpuarray.tar.gz"
    local.write_bytes(b"x")
    monkeypatch.setenv("LIBGPUARRAY_SOURCE", str(local))
    assert source_archive.obtain("LIBGPUARRAY_SOURCE", "http://unused/", "a.tar.gz", str(dest),
                                 "it") == str(local)
    with pytest.raises(source_archive.Failure, match="is not a readable .tar.gz"):
        build_gpuarray.fetch(str(dest))


def test_a_failed_download_names_the_variable_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("THEANO_PYMC_SDIST", raising=False)
    # port 1 on localhost: refused at once, as a machine without internet would
    monkeypatch.setattr(install_theano, "URL", "http://127.0.0.1:1/Theano-PyMC-1.1.2.tar.gz")
    with pytest.raises(source_archive.Failure,
                       match=r"cannot download http://127.0.0.1:1/.* set "
                             r"THEANO_PYMC_SDIST=/path/to/Theano-PyMC-1.1.2.tar.gz"):
        install_theano.fetch(str(tmp_path))


def test_extract_refuses_links_out_of_the_archive(tmp_path):
    for target in ("/etc/passwd", "../../outside"):
        archive = tmp_path / "link.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo("pkg-1.0/setup.py")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
            link = tarfile.TarInfo("pkg-1.0/evil")
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
        with pytest.raises(source_archive.Failure, match="a link leading out of it"):
            source_archive.extract(str(archive), str(tmp_path / "out"))
        assert not (tmp_path / "out" / "pkg-1.0").exists()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/setup.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    root = source_archive.extract(str(archive), str(tmp_path / "out"))
    assert root == str(tmp_path / "out" / "pkg-1.0") and os.path.isfile(os.path.join(root, "setup.py"))
