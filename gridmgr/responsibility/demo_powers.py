"""The synthetic default power catalog: 890 powers devolved to the towns (75 approval/service, 815
penalty), made deterministically so ``data/powers/`` can be rebuilt and checked.

The names and legal bases are **synthetic**: each is assembled from a law's name, a matter and an
article number of our own choosing, on the pattern of Jiangsu's published town lists
(赋权事项清单); none is copied from an official list. The first items are the powers the shipped
matter catalog's town-team categories link to (``power_code``).

Rebuild the shipped files with ``python -m gridmgr.responsibility.demo_powers data/powers``
(or ``gridmgr powers generate --out FOLDER``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from gridmgr.responsibility.catalog import PowerClass, parse_handler
from gridmgr.responsibility.powers import ALL_TOWNS, Devolution, PowerCatalog, PowerItem
from gridmgr.responsibility.roster_files import parse_time

APPROVALS, SERVICES, PENALTIES = 45, 30, 815
"""75 approval/service items (45 approvals, 30 services) and 815 penalty items: 890."""

REFORM_START = "2020-01-01"
"""When the synthetic devolution to every town takes effect."""
PILOT_START = "2025-07-01"
"""When the synthetic pilot batch is devolved to the pilot towns only."""
PILOT_TOWNS = ("320281001", "320281004", "320281101")
"""Towns of the pilot batch (tier-1 codes of the shipped Jiangyin grid)."""
PILOT_ITEMS = 40
"""The last penalty items: devolved to the pilot towns only; elsewhere their holder keeps them."""

LINKED: tuple[tuple[str, str, str], ...] = (
    ("street_vending", "penalty", "对占道经营、擅自摆摊设点的行政处罚"),
    ("shop_spillover", "penalty", "对擅自超出门窗和外墙经营的行政处罚"),
    ("piled_materials", "penalty", "对在道路两侧和公共场地堆放物料的行政处罚"),
    ("illegal_outdoor_ad", "penalty", "对擅自设置户外广告设施的行政处罚"),
    ("flyposting", "penalty", "对在建筑物、构筑物上张贴、涂写、刻画的行政处罚"),
    ("illegal_construction", "penalty", "对未取得建设工程规划许可证进行建设的行政处罚"),
    ("cooking_fume", "penalty", "对餐饮服务油烟未经处理直接排放的行政处罚"),
    ("open_burning", "penalty", "对露天焚烧秸秆、落叶、垃圾的行政处罚"),
    ("noise_nuisance", "penalty", "对商业经营活动噪声扰民的行政处罚"),
    ("construction_dust", "penalty", "对施工工地未采取扬尘防治措施的行政处罚"),
    ("garbage_sorting", "penalty", "对未按规定分类投放生活垃圾的行政处罚"),
    ("fire_lane_blocked", "penalty", "对占用、堵塞、封闭消防车通道的行政处罚"),
    ("ebike_charging", "penalty", "对在公共门厅、楼梯间违规停放电动自行车充电的行政处罚"),
    ("corridor_clutter", "penalty", "对在楼道、疏散通道堆放物品的行政处罚"),
    ("greenery_damage", "penalty", "对损毁城市绿地和绿化设施的行政处罚"),
    ("exposed_garbage", "service", "城乡生活垃圾清扫、收集公共服务"),
    ("river_floating_debris", "service", "河道保洁和漂浮物打捞公共服务"),
    ("facility_damage", "service", "镇村公共设施维护管理公共服务"),
)
"""(category code, class, name) of the items the shipped catalog's categories link to."""

_LAWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("《江苏省城乡生活垃圾管理条例》", "city_team", ("生活垃圾", "建筑垃圾", "餐厨垃圾")),
    ("《城市市容和环境卫生管理条例》", "city_team", ("市容环境", "环境卫生设施", "临街建筑")),
    ("《城乡规划法》", "city_team", ("乡村建设", "临时建设", "规划条件")),
    ("《大气污染防治法》", "dept:sthj", ("扬尘", "餐饮油烟", "露天烧烤")),
    ("《环境噪声污染防治法》", "dept:sthj", ("社会生活噪声", "建筑施工噪声")),
    ("《消防法》", "dept:xfjy", ("消防设施", "疏散通道", "消防安全标志")),
    ("《安全生产法》", "dept:yjgl", ("安全生产", "安全警示标志", "安全培训")),
    ("《食品安全法》", "dept:scjg", ("食品经营", "小餐饮", "食品摊贩")),
    ("《江苏省河道管理条例》", "dept:slj", ("河道管理范围", "堤防", "取水")),
    ("《公路法》", "dept:jtys", ("公路用地", "公路两侧建筑控制区", "公路标志")),
    ("《城镇排水与污水处理条例》", "dept:swjt", ("排水设施", "污水排入排水管网")),
    ("《土地管理法》", "dept:zrzy", ("农用地", "宅基地", "土地复垦")),
    ("《动物防疫法》", "dept:gaj", ("犬只", "动物诊疗", "动物屠宰")),
    ("《物业管理条例》", "dept:zjj", ("物业服务", "住宅专项维修资金", "共用部位")),
)
_ACTS = (
    "违反{}管理规定",
    "擅自改变{}用途",
    "未按规定设置{}",
    "拒不改正{}违法行为",
    "逾期未清除{}",
    "损坏{}",
)
_SERVICES = ("公共服务事项", "便民服务事项", "办理事项")
_APPROVALS = ("许可", "审批", "备案审查")


def _synthetic_items(start: str) -> list[PowerItem]:
    valid_from = parse_time(start)
    items: list[PowerItem] = []
    numbers = {"penalty": 0, "service": 0}
    for category, kind, name in LINKED:
        prefix = "CF" if kind == "penalty" else "GG"
        numbers[kind] += 1
        items.append(
            PowerItem(
                f"{prefix}{numbers[kind]:04d}",
                name,
                PowerClass(kind),
                f"（合成示例）与事项目录 {category} 对应",
                parse_handler("city_team"),
                valid_from,
            )
        )
    services, penalties = numbers["service"], numbers["penalty"]
    wanted = (
        ("XK", PowerClass.APPROVAL, APPROVALS, 0),
        ("GG", PowerClass.SERVICE, SERVICES - services, services),
        ("CF", PowerClass.PENALTY, PENALTIES - penalties, penalties),
    )
    for prefix, power_class, count, offset in wanted:
        for i in range(count):
            law, holder, subjects = _LAWS[i % len(_LAWS)]
            subject = subjects[(i // len(_LAWS)) % len(subjects)]
            article = 10 + i // len(_LAWS)
            if power_class is PowerClass.PENALTY:
                act = _ACTS[(i // len(_LAWS)) % len(_ACTS)].format(subject)
                name = f"对{act}的行政处罚"
            elif power_class is PowerClass.APPROVAL:
                name = f"{subject}{_APPROVALS[i % len(_APPROVALS)]}"
            else:
                name = f"{subject}{_SERVICES[i % len(_SERVICES)]}"
            items.append(
                PowerItem(
                    f"{prefix}{offset + i + 1:04d}",
                    f"{name}（第{article}条）",
                    power_class,
                    f"（合成示例）{law}第{article}条",
                    parse_handler(holder),
                    valid_from,
                )
            )
    return items


def generate_powers(
    *, pilot_towns: Sequence[str] = PILOT_TOWNS, source: str = "synthetic powers"
) -> PowerCatalog:
    """The synthetic default: every item devolved to every town's team from
    :data:`REFORM_START`, except the last :data:`PILOT_ITEMS` penalty items, devolved to
    ``pilot_towns`` only from :data:`PILOT_START`.

    >>> powers = generate_powers()
    >>> len(powers), {c.value: n for c, n in powers.classes().items()}
    (890, {'approval': 45, 'service': 30, 'penalty': 815})
    """
    items = _synthetic_items(REFORM_START)
    town_team = parse_handler("town_team")
    pilot = {item.code for item in items[-PILOT_ITEMS:]}
    devolutions = [
        Devolution(item.code, ALL_TOWNS, town_team, parse_time(REFORM_START))
        for item in items
        if item.code not in pilot
    ]
    devolutions += [
        Devolution(code, town, town_team, parse_time(PILOT_START))
        for code in sorted(pilot)
        for town in pilot_towns
    ]
    return PowerCatalog(items, devolutions, source=source)


def linked_power_codes() -> dict[str, str]:
    """Category code → the synthetic power code it is exercised under."""
    items = _synthetic_items(REFORM_START)
    return {category: items[i].code for i, (category, _, _) in enumerate(LINKED)}


if __name__ == "__main__":  # pragma: no cover - the rebuild command of data/powers/
    from gridmgr.responsibility.powers_file import write_powers

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/powers")
    made = generate_powers()
    write_powers(made, target)
    print(f"{len(made)} power items, {len(made.devolutions)} devolutions written to {target}")
