"""The template evaluator the infra tests stand on (tests/infra/evaluate.py) reads Bicep as Resource Manager would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.evaluate import DeploymentFailed, Unknown, deploy


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def test_member_access_binds_to_the_last_operand_as_in_bicep(tmp_path):
    """The grammar parses `c ? a : b.x` as `(c ? a : b).x` and `!a.b` as `(!a).b`; the evaluator does not."""
    template = write(tmp_path, "main.bicep", """param flag bool = false
param o object = { x: { y: 5 } }
output chosen int = flag ? 1 : o.x.y
output negated bool = !o.x.y
output either bool = flag || o.x.y == 5
output indexed int = flag ? 1 : [ 7 ][0]
output parenthesised int = (flag ? o : { x: { y: 9 } }).x.y
""")
    assert deploy(template, {}).outputs == {"chosen": 5, "negated": False, "either": True, "indexed": 7,
                                            "parenthesised": 9}


def test_fail_parameter_bounds_and_skipped_modules_fail_the_deployment(tmp_path):
    write(tmp_path, "child.bicep", "param n int\noutput twice int = n * 2\n")
    template = write(tmp_path, "main.bicep", """@minValue(1)
@maxValue(3)
param n int = 2
param use bool = true
var checked = n == 3 ? fail('three is refused') : n
module child 'child.bicep' = if (use) {
  name: 'child'
  params: {
    n: checked
  }
}
output twice int = child.outputs.twice
""")
    assert deploy(template, {}).outputs == {"twice": 4}
    with pytest.raises(DeploymentFailed, match="three is refused"):
        deploy(template, {"n": 3})
    with pytest.raises(DeploymentFailed, match="above 3"):
        deploy(template, {"n": 4})
    with pytest.raises(DeploymentFailed, match="not deployed"):
        deploy(template, {"use": False})
    with pytest.raises(DeploymentFailed, match="unknown parameters"):
        deploy(template, {"m": 1})


def test_loops_conditions_nested_and_extension_resources(tmp_path):
    template = write(tmp_path, "main.bicep", """param names array = [
  'a'
  'b'
]
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  resource blobs 'blobServices' = {
    name: 'default'
    resource containers 'containers' = [for (n, i) in names: if (n != 'b') {
      name: '${n}-${i}'
    }]
  }
}
resource grant 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, 'x')
  scope: account::blobs
  properties: {
    principalId: account.properties.primaryEndpoints.blob
  }
}
""")
    deployment = deploy(template, {})
    containers = deployment.of_type("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert [c.name for c in containers] == ["st/default/a-0"]
    assert containers[0].id.endswith(
        "/providers/Microsoft.Storage/storageAccounts/st/blobServices/default/containers/a-0")
    grant = deployment.one("Microsoft.Authorization/roleAssignments")
    assert grant.scope.endswith("/storageAccounts/st/blobServices/default")
    assert grant.properties["principalId"] == Unknown("storageAccounts:st.properties.primaryEndpoints.blob")


def test_a_condition_on_a_value_only_azure_knows_is_refused(tmp_path):
    template = write(tmp_path, "main.bicep", """resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: 'kv'
}
output uri string = empty(vault.properties.vaultUri) ? 'none' : 'some'
""")
    with pytest.raises(DeploymentFailed, match="only Azure knows"):
        deploy(template, {})
