from engine.memo import IdentityMemo


def test_a_value_is_built_once_per_object_and_old_objects_make_room():
    built = []
    memo = IdentityMemo(lambda key: built.append(key) or len(key), size=2)
    first, second, third = ("a",), ("b", "c"), ("d",)
    assert memo(first) == 1 and memo(first) == 1
    assert memo(second) == 2 and memo(third) == 1
    assert built == [first, second, third]
    memo(first)  # the oldest made room for the third: built again
    assert built == [first, second, third, first]


def test_an_equal_but_different_object_gets_its_own_value():
    memo = IdentityMemo(lambda key: [len(key)])
    one, other = ("x",), tuple(["x"])
    assert memo(one) is memo(one)
    assert memo(other) == memo(one) and memo(other) is not memo(one)
