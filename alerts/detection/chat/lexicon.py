"""The lexicon of owners' chat: facility words per asset kind, complaint phrases, mood words.

Written for facwatch from property-management practice (no third-party sentiment lexicon, so no licence
limits its use). A site adds words in its site file (``[chat.lexicon]``, docs/owners.md); ``with_additions``
returns the merged lexicon. Every word is also given to the segmenter, so a phrase such as 又坏了 stays one
token instead of 又 / 坏 / 了.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from facwatch.model import AssetKind

# fmt: off
FACILITY: Mapping[AssetKind, tuple[str, ...]] = {
    AssetKind.ELEVATOR: (
        "电梯", "电梯门", "轿厢", "梯子", "客梯", "货梯", "1号梯", "2号梯", "困人", "被困", "关在电梯", "关人", "卡在", "楼层按钮", "按钮", "电梯口",
        "平层", "开门", "关门", "坐电梯", "等电梯", "爬楼", "爬楼梯", "走楼梯", "关不上", "不平层", "夹人", "报警按钮", "显示屏", "开关门", "不开门",
        "梯",
    ),
    AssetKind.PUMP: (
        "水泵", "停水", "没水", "断水", "水压", "水压低", "水很小", "水小", "水龙头", "自来水", "供水", "二次供水", "热水器", "漏水", "渗水", "爆管",
        "水管", "水表", "积水", "泵房", "没有水", "水流", "出水", "来水", "用水", "消防水泵", "水箱", "热水", "冷水", "滴水", "溢水", "黄水", "水费",
        "净水器", "来水了", "节约用水", "洗车", "水",
    ),
    AssetKind.POWER: (
        "停电", "没电", "断电", "跳闸", "电闸", "配电", "配电房", "电压", "灯不亮", "照明", "来电", "供电", "电表", "闪", "一闪一闪", "黑灯", "漆黑",
        "全黑", "电表箱", "配电箱", "火花", "电费", "充电", "电动车", "空调", "灯", "电",
    ),
}
"""Words that name or imply a machine of a kind (the last of each list is the loosest)."""
FAULT: tuple[str, ...] = (
    "坏了", "又坏了", "坏", "故障", "停运", "不动了", "不动", "不能用", "用不了", "卡住", "卡住了", "困人", "被困", "关在电梯", "关人", "停水", "没水",
    "断水", "没有水", "水压低", "水很小", "水小", "漏水", "渗水", "爆管", "停电", "没电", "断电", "跳闸", "灯不亮", "异响", "响声", "咣当", "晃",
    "抖", "不出水", "黑灯", "漆黑", "全黑", "一闪一闪", "罢工", "趴窝", "歇菜", "又停", "又没", "关不上", "失灵", "没反应", "不平层", "夹人", "焦味",
    "冒烟", "火花", "溢水", "爆了", "黄水", "浑", "有味道", "停了", "断了", "乱跳", "不开门", "变形", "滴水", "破",
)
"""A machine not working: each occurrence is one complaint keyword."""
COMPLAINT: tuple[str, ...] = (
    "投诉", "无语", "搞什么", "怎么回事", "什么情况", "还没修", "没人管", "没人来", "受不了", "服了", "垃圾", "气死", "退钱", "12345", "曝光", "第几次",
    "三天两头", "天天坏", "每次都", "太差", "差劲", "离谱", "物业呢", "管不管", "有没有人管", "等了半天", "还不来", "还没好", "还没来", "拖", "交物业费",
    "不交物业费", "热线", "市长热线", "媒体", "维权", "还让不让人", "谁赔", "谁来管", "行不行", "为什么总是", "给个说法", "没法过", "腿都断了", "还要涨",
    "反映了",
)
"""What owners say when they complain: each occurrence is one complaint keyword."""
NEGATIVE: tuple[str, ...] = (
    "无语", "生气", "气死", "失望", "受不了", "垃圾", "差劲", "太差", "烦", "烦死", "崩溃", "服了", "呵呵", "恶心", "离谱", "坑", "骗", "投诉",
    "曝光", "凭什么", "不交物业费", "第几次", "三天两头", "天天坏", "搞什么", "什么情况", "还没修", "没人管", "有没有人管", "管不管", "物业呢", "难受", "火大",
    "醉了", "吐了", "还不来", "等了半天", "维权", "12345", "市长热线", "退钱", "害怕", "吓死", "急死", "急", "吓人", "冻死", "臭了", "惨", "没素质",
    "骗人", "还让不让人", "谁赔", "行不行", "为什么总是", "给个说法", "没法过", "腿都断了", "心惊胆战", "破",
)
"""Words of a negative mood."""
POSITIVE: tuple[str, ...] = (
    "谢谢", "感谢", "辛苦了", "辛苦", "点赞", "修好了", "恢复了", "好了", "及时", "给力", "赞", "棒", "满意", "👍", "快", "效率", "负责", "暖心",
    "来电了", "来水了", "正常了", "好评", "好用", "挺好用", "好看", "很漂亮", "漂亮", "很快", "好多了", "快又稳", "解决", "很亮",
)
"""Words of a positive mood (thanks, praise, a fix reported)."""
GENERAL: tuple[str, ...] = (
    "门禁", "单元门", "道闸", "监控", "消防门", "车库门", "垃圾桶", "物业服务", "保洁", "绿化", "路灯", "门锁",
)
"""Facilities that are no machine facwatch watches: a complaint about them counts, without an asset kind."""
NEGATIONS: tuple[str, ...] = (
    "没", "没有", "不", "别", "未", "不是",
)
"""A fault word right after one of these is not a fault (没坏, 不是停电)."""
QUESTIONS: tuple[str, ...] = (
    "请问", "明天", "几点", "什么时候", "会不会", "通知", "检修", "施工", "提前", "计划", "保养", "年检", "储水",
)
"""Asking about a plan, or announcing one: a fault word next to these is no complaint (请问明天停水吗)."""
NEUTRAL: tuple[str, ...] = (
    "垃圾分类", "收垃圾", "垃圾桶", "水费", "电费", "充电桩", "电动车", "节约用水",
)
"""Words given to the segmenter only, so that 垃圾 in 垃圾分类 is not an insult."""
SARCASM: tuple[str, ...] = (
    "真棒", "真好", "太好了", "厉害了", "666", "真行", "佩服", "优秀", "好样的",
)
"""Praise next to a fault or complaint is sarcasm: the mood is negative."""
# fmt: on


@dataclass(frozen=True, slots=True)
class Lexicon:
    facility: Mapping[AssetKind, frozenset[str]]
    fault: frozenset[str]
    complaint: frozenset[str]
    negative: frozenset[str]
    positive: frozenset[str]
    general: frozenset[str] = frozenset(GENERAL)
    negations: frozenset[str] = frozenset(NEGATIONS)
    questions: frozenset[str] = frozenset(QUESTIONS)
    sarcasm: frozenset[str] = frozenset(SARCASM)
    kind_of: Mapping[str, AssetKind] = field(default_factory=dict)
    """Word to asset kind (built from ``facility``)."""

    def words(self) -> frozenset[str]:
        """Every word, for the segmenter."""
        found = set(self.kind_of) | self.fault | self.complaint | self.negative | self.positive
        return frozenset(found | self.questions | self.sarcasm | self.general | frozenset(NEUTRAL))

    def with_additions(self, additions: Mapping[str, tuple[str, ...]]) -> Lexicon:
        """A site's words (``[chat.lexicon]``) added to these."""
        facility = {
            kind: words | frozenset(additions.get(kind.value, ())) for kind, words in self.facility.items()
        }
        return build(
            facility,
            fault=self.fault,
            complaint=self.complaint | frozenset(additions.get("complaint", ())),
            negative=self.negative | frozenset(additions.get("negative", ())),
            positive=self.positive | frozenset(additions.get("positive", ())),
        )


def build(
    facility: Mapping[AssetKind, frozenset[str]],
    *,
    fault: frozenset[str],
    complaint: frozenset[str],
    negative: frozenset[str],
    positive: frozenset[str],
) -> Lexicon:
    kind_of: dict[str, AssetKind] = {}
    for kind, words in facility.items():
        for word in words:
            kind_of.setdefault(word, kind)
    return Lexicon(facility, fault, complaint, negative, positive, kind_of=kind_of)


def default_lexicon() -> Lexicon:
    return build(
        {kind: frozenset(words) for kind, words in FACILITY.items()},
        fault=frozenset(FAULT),
        complaint=frozenset(COMPLAINT),
        negative=frozenset(NEGATIVE),
        positive=frozenset(POSITIVE),
    )
