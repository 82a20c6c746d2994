package value_test

import (
	"fmt"
	"math"
	"time"

	"github.com/fbadmin/fbadmin/internal/value"
)

func ExampleEncodeMap() {
	fields := map[string]any{
		"name":    "Ada",
		"visits":  int64(9007199254740993), // 2^53 + 1: exact, not rounded
		"ratio":   1.0,
		"delta":   math.Copysign(0, -1),
		"seen":    time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC),
		"payload": []byte{0, 1, 2},
		"meta":    map[string]any{"$int": "user data, not a typed form"},
	}
	line, err := value.EncodeMap(fields)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(line))
	// Output:
	// {"delta":{"$double":"-0"},"meta":{"$map":{"$int":"user data, not a typed form"}},"name":"Ada","payload":{"$bytes":"AAEC"},"ratio":{"$double":1},"seen":{"$timestamp":"2024-01-02T03:04:05.123456789Z"},"visits":{"$int":"9007199254740993"}}
}

func ExampleDecode() {
	v, err := value.Decode([]byte(`{"age": 36, "score": 9.5, "id": {"$int": "-9223372036854775808"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := v.(map[string]any)
	fmt.Printf("%T %T %v\n", m["age"], m["score"], m["id"])
	// Output:
	// int64 float64 -9223372036854775808
}

func ExampleDecode_error() {
	_, err := value.Decode([]byte(`{"user": {"age": {"$int": "12x"}}}`))
	fmt.Println(err)
	// Output:
	// $.user.age: {"$int":"12x"}: invalid int64 "12x" (want a decimal string like "-42")
}

func ExampleEqual() {
	fmt.Println(value.Equal(math.NaN(), math.NaN()))
	fmt.Println(value.Equal(0.0, math.Copysign(0, -1)))
	fmt.Println(value.Equal(int32(7), int64(7)))
	fmt.Println(value.Equal(int64(7), 7.0))
	// Output:
	// true
	// false
	// true
	// false
}
