"""What a case may show outside the command center: audiences, publication tiers, masking.

Pure: text and numbers in, text and numbers out. A category's
:class:`~gridmgr.responsibility.catalog.PublicationTier` says who may read its cases; an
:class:`Audience` is who is asking without a staff login. The anonymous public sees ``public``
cases only, with the place rounded to :data:`COARSE_DECIMALS` decimals (about 100 m) and the
description masked by :func:`mask_text`; a partner system (an api_key of scope ``partner``) sees
``public`` and ``restricted`` cases in full; nobody outside the staff sees ``confidential`` ones.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

from gridmgr.responsibility.catalog import PublicationTier


class Audience(enum.Enum):
    """Who reads without a staff login: the anonymous public, or a partner system."""

    PUBLIC = "public"
    PARTNER = "partner"

    @property
    def tiers(self) -> frozenset[PublicationTier]:
        """The publication tiers this audience may read.

        >>> sorted(t.value for t in Audience.PARTNER.tiers)
        ['public', 'restricted']
        """
        if self is Audience.PARTNER:
            return frozenset({PublicationTier.PUBLIC, PublicationTier.RESTRICTED})
        return frozenset({PublicationTier.PUBLIC})

    @property
    def in_full(self) -> bool:
        """Whether this audience reads exact places, unmasked text and officials' names."""
        return self is Audience.PARTNER


COARSE_DECIMALS = 3
"""Decimals of a published coordinate: 0.001° is about 111 m north-south and 95 m east-west at
Jiangyin's latitude, so a point names a block, never a door."""


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左"
    "柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈"
    "饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵"
    "苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
    "萧傅阎赖洪官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花"
    "权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍"
    "辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利呼居揭干但尉冶斯元"
    "束檀衣信展阴昝智幸奉植衡富尧闭由"
)
"""Single-character surnames (the common ~550); a compound one (欧阳) starts with one of them."""
_ADDRESS_FORMS = "先生|女士|小姐|师傅|阿姨|大爷|大妈|老师|老板|同志"
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CN_DIGITS = "0-9０-９一二三四五六七八九十百零〇"
# Order matters: an ID number holds eleven digits a phone pattern would also take.
_MASKS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), "[身份证号]"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"), "[手机号]"),
    (re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"), "[电话]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[邮箱]"),
    (
        re.compile(
            rf"[{_PROVINCES}][A-HJ-NP-Za-hj-np-z][-·•\s]?[A-HJ-NP-Za-hj-np-z0-9]{{4,5}}"
            r"[挂学警港澳领使]?(?![A-Za-z0-9])"
        ),
        "[车牌]",
    ),
    # below building level: unit, floor and room (单元, 层/楼层, 室/房/户) and "3-2-502" forms
    (re.compile(r"(?<!\d)\d{1,4}-\d{1,3}-\d{2,5}(?!\d)"), "[门牌]"),
    (
        re.compile(
            rf"[{_CN_DIGITS}]+\s*单元(?:\s*[{_CN_DIGITS}]+\s*(?:层|楼)(?![{_CN_DIGITS}]))?"
            rf"(?:\s*[{_CN_DIGITS}]+\s*(?:室|房|号房|户)?)?"
        ),
        "[门牌]",
    ),
    (re.compile(rf"[{_CN_DIGITS}]+\s*(?:室|号房|户)"), "[门牌]"),
    (re.compile(r"(?<![0-9A-Za-z])\d{3,4}房"), "[门牌]"),
    # a name after a word that introduces a person (联系人周伟, 住户: 王丽娟)
    (
        re.compile(
            rf"((?:联系人|住户|居民|业主|户主|当事人|反映人|报告人|投诉人|市民|村民|租户)"
            rf"[：:\s]*)[{_SURNAMES}][\u4e00-\u9fa5]{{1,2}}"
        ),
        r"\1某某",
    ),
    # a name before a form of address (张先生, 唐建华女士): the person, not the role
    (
        re.compile(rf"[{_SURNAMES}][\u4e00-\u9fa5]{{0,3}}?(?=(?:{_ADDRESS_FORMS}))"),
        "某",
    ),
)


def mask_text(text: str) -> str:
    """``text`` with mobile and landline numbers, ID-card numbers, e-mail addresses, licence
    plates and addresses below building level replaced by a bracketed label, and a name before
    a form of address (先生, 女士 …) or after a word that introduces a person (联系人, 住户 …)
    replaced by 某. A name written with neither is not recognised.

    >>> mask_text("电话13812345678，身份证32028119800101123X")
    '电话[手机号]，身份证[身份证号]'
    >>> mask_text("苏B12345停在3号楼2单元502室门口")
    '[车牌]停在3号楼[门牌]门口'
    >>> mask_text("502室漏水，找张先生，138 1234 5678")
    '[门牌]漏水，找某先生，[手机号]'
    >>> mask_text("联系人：周伟，唐建华女士反映陕R-76232乱停")
    '联系人：某某，某女士反映[车牌]乱停'
    >>> mask_text("5栋3-2-502楼道堆物，0510-86801234")
    '5栋[门牌]楼道堆物，[电话]'
    >>> mask_text("桥下有人占道经营，约20人")
    '桥下有人占道经营，约20人'
    """
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def coarsen(lon: float | None, lat: float | None) -> tuple[float | None, float | None]:
    """A point rounded to :data:`COARSE_DECIMALS` decimals (about 100 m); ``None`` stays.

    >>> coarsen(120.26394817, 31.91268821)
    (120.264, 31.913)
    >>> coarsen(None, None)
    (None, None)
    """
    if lon is None or lat is None:
        return None, None
    return round(lon, COARSE_DECIMALS), round(lat, COARSE_DECIMALS)


def is_coarse(value: float) -> bool:
    """Whether a published coordinate carries no more than :data:`COARSE_DECIMALS` decimals.

    >>> is_coarse(120.264), is_coarse(120.0625)
    (True, False)
    """
    return abs(value - round(value, COARSE_DECIMALS)) < 1e-9
