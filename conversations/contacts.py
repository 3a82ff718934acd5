"""Contacts in what a shopper writes: a phone number, e-mail address, WeChat id or QQ number. Pure text work."""

import re

# Contacts inside what a shopper writes: a mainland mobile (any spacing), a landline with its area
# code, an e-mail address, or a WeChat id / QQ number after a label (a bare word is too easily an
# ordinary one: "微信iPhone版" is no id, so an unlabelled-looking id needs a digit or an underscore).
_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[\s.-]?)?1[3-9](?:[\s.-]?\d){9}(?!\d)")
_LANDLINE = re.compile(r"(?<![0-9A-Za-z])\(?0\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
_WECHAT_ID = r"[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])"
_WECHAT_LABEL = r"(?:微信|(?<![A-Za-z])(?:weixin|wechat|wx|vx)(?![A-Za-z]))"
_LABELLED_WECHAT = re.compile(
    rf"{_WECHAT_LABEL}\s*(?:号|id)?\s*(?:是|为|:|：|is\b)\s*({_WECHAT_ID})"
    rf"|{_WECHAT_LABEL}\s*(?:号|id)?\s*((?=[-_A-Za-z0-9]*[\d_])[A-Za-z][-_A-Za-z0-9]{{5,19}}(?![-_A-Za-z0-9]))",
    re.I,
)
_LABELLED_QQ = re.compile(r"(?<![A-Za-z])qq\s*号?\s*(?:是|为|:|：)?\s*([1-9]\d{4,11})(?!\d)", re.I)
_BARE_WECHAT = re.compile(rf"^{_WECHAT_ID}$")
# A message asking something is a question that happens to hold a number, unless it says "my phone is".
_ASKING = re.compile(r"吗|？|\?|怎么|能不能|可不可以|可以.{0,6}吗|为什么|多少|哪")
_MY_CONTACT = re.compile(r"(我的|我)(手机|电话|微信|邮箱|联系方式|qq)|联系方式", re.I)
CONTACT_MESSAGE_MAX_CHARS = 60


def contact_find(text: str, *, form: bool = False) -> str | None:
    """The phone number, e-mail address, WeChat id or QQ number in what the shopper wrote, or None.

    `form`: typed into the contact form, where a bare WeChat id needs no label.
    """
    text = text.strip()
    if not text or len(text) > 200:
        return None
    labelled = _LABELLED_WECHAT.search(text) or _LABELLED_QQ.search(text)
    if labelled:
        return next(group for group in labelled.groups() if group)
    for pattern in (_MOBILE, _EMAIL, _LANDLINE):
        found = pattern.search(text)
        if found:
            return found.group(0).strip()
    if form and _BARE_WECHAT.match(text):
        return text
    return None


def contact_in_message(text: str) -> str | None:
    """A contact a waiting shopper typed as a message; a question that merely holds a number is none."""
    if len(text) > CONTACT_MESSAGE_MAX_CHARS or (_ASKING.search(text) and not _MY_CONTACT.search(text)):
        return None
    return contact_find(text)
