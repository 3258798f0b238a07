"""Loading Istio YAML: every version, located errors for typos, warnings for fields we do not model."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import MeshConfigError
from harness.istio import DestinationRule, VirtualService, load_istio

VS = """apiVersion: networking.istio.io/{version}
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
    - name: main
      route: [{{destination: {{host: reviews, subset: v1}}}}]
      timeout: 2s
"""


def write(tmp_path: Path, text: str, name: str = "mesh.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_every_served_api_version_loads(tmp_path: Path, version: str) -> None:
    result = load_istio([write(tmp_path, VS.format(version=version))])
    (vs,) = result.objects
    assert isinstance(vs, VirtualService)
    assert vs.spec.http[0].timeout == "2s"
    assert result.warnings == []


def test_unknown_api_version_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VS.format(version="v2"))
    with pytest.raises(MeshConfigError) as caught:
        load_istio([path])
    assert f"{path}:1:1: apiVersion" in str(caught.value)


def test_typo_is_an_error_with_line_column_field_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, VS.format(version="v1").replace("timeout: 2s", "timout: 2s"))
    with pytest.raises(MeshConfigError) as caught:
        load_istio([path])
    assert f"{path}:9:7: spec.http[0].timout: unknown field (hint: did you mean 'timeout'?)" in str(caught.value)


def test_istio_field_the_harness_does_not_model_is_a_warning(tmp_path: Path) -> None:
    text = VS.format(version="v1") + "      mirror: {host: reviews}\n"
    result = load_istio([write(tmp_path, text)])
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path / 'mesh.yaml'}:10:7: spec.http[0].mirror: is not modelled by the harness; ignored"]


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, VS.format(version="v1").replace("timeout: 2s", "timeout: 2 seconds"))
    with pytest.raises(MeshConfigError, match=r"mesh.yaml:9:7: spec.http\[0\].timeout: .*invalid duration"):
        load_istio([path])


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: VirtualService\nspec: [unclosed\n")
    with pytest.raises(MeshConfigError, match=r"mesh.yaml:3:1"):
        load_istio([path])


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, VS.format(version="v1") + "      timeout: 3s\n")
    with pytest.raises(MeshConfigError, match=r"mesh.yaml:10:7: spec.http\[0\].timeout: duplicate key"):
        load_istio([path])


def test_folder_with_many_documents_and_other_kinds(tmp_path: Path) -> None:
    write(tmp_path, VS.format(version="v1"), "a.yaml")
    write(tmp_path, "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\n---\n"
          "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: reviews}\n"
          "spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}\n", "b.yml")
    result = load_istio([tmp_path])
    assert [type(o) for o in result.objects] == [VirtualService, DestinationRule]
    assert result.objects[1].metadata.namespace == "default"
    assert "v1 Service is not used by the mesh" in str(result.warnings[0])


def test_same_object_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, VS.format(version="v1"), "a.yaml")
    write(tmp_path, VS.format(version="v1"), "b.yaml")
    with pytest.raises(MeshConfigError, match="defined twice"):
        load_istio([tmp_path])


def test_a_configmap_volume_loads_each_file_once(tmp_path: Path) -> None:
    """Kubernetes' atomic writer: files live in ..<timestamp>/, ..data links to it, names link into ..data."""
    import os

    from harness.istio import yaml_files

    stamp = tmp_path / "..2026_12_03_10_00_00.123456789"
    stamp.mkdir()
    (stamp / "01-abort.yaml").write_text("kind: Experiment\n")
    os.symlink(stamp.name, tmp_path / "..data")
    os.symlink("..data/01-abort.yaml", tmp_path / "01-abort.yaml")
    assert yaml_files([tmp_path]) == [tmp_path / "01-abort.yaml"]
