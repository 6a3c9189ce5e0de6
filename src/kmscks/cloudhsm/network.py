"""The simulated network: which subnets exist in a region, in which availability zone.

cloudhsm layer. Declared in the server config (`[[cloudhsm.subnets]]`); with none declared,
every region has three subnets, one per availability zone <region>a, b and c:
subnet-00000000000000001, -02 and -03 (docs/cloudhsm.md).
"""

from __future__ import annotations

from kmscks.config import CloudHsmSettings, Subnet


def region_subnets(settings: CloudHsmSettings, region: str) -> dict[str, Subnet]:
    if settings.subnets:
        return {s.id: s for s in settings.subnets if s.region == region}
    return {
        f"subnet-{index:017x}": Subnet(f"subnet-{index:017x}", f"{region}{zone}")
        for index, zone in enumerate("abc", start=1)
    }
