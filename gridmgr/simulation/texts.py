"""What simulated people write: a report's description and each action's comment."""

from __future__ import annotations

import random

from gridmgr.cases import Action
from gridmgr.simulation.activity import Arrival, Channel

COMMENTS = {
    Action.REGISTER: "经核实情况属实，予以立案",
    Action.REJECT: "经核实不属于受理范围（或为重复上报），不予立案",
    Action.DISPATCH: "派遣至责任网格，请按时签收处置",
    Action.ACCEPT: "已签收，马上到现场",
    Action.RETURN: "经现场核实不属于本网格事项，申请退回改派",
    Action.START: "已到达现场，开始处置",
    Action.REQUEST_DEFER: "需协调相关部门，申请延期一个工作日",
    Action.APPROVE_DEFER: "情况属实，同意延期",
    Action.HANDLE: "已处置完毕，现场已恢复，附处置说明",
    Action.VERIFY: "经回访核查，处置到位",
    Action.REOPEN: "核查发现问题仍然存在，重新处置",
    Action.CLOSE: "处置到位，予以结案",
    Action.EVALUATE: "回访报告人，记录满意度",
}
"""The comment a simulated person writes with each action."""

_PLACES = ("路口", "小区门口", "菜场旁", "学校附近", "河边", "公交站旁", "商铺前", "桥下", "停车场")


def describe(ids: random.Random, arrival: Arrival, name_zh: str) -> str:
    """A report's text as its channel would word it (a patrol, a hotline call, a desk call)."""
    place = _PLACES[ids.randrange(len(_PLACES))]
    if arrival.channel == Channel.OPEN311:
        return f"市民来电反映：{place}有{name_zh}问题，请尽快处理"
    if arrival.channel == Channel.OPERATOR:
        return f"值班员受理来电：{place}{name_zh}"
    return f"巡查发现{place}{name_zh}，已拍照取证"
