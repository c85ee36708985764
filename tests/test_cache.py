import numba

from vmgym._cache import configure_cache, kernel_source_hash


def test_numba_cache_is_keyed_by_kernel_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    old = numba.config.CACHE_DIR
    try:
        target = configure_cache()
        assert target == tmp_path / kernel_source_hash()
        assert numba.config.CACHE_DIR == str(target) and target.is_dir()
    finally:
        numba.config.CACHE_DIR = old
    assert len(kernel_source_hash()) == 12
