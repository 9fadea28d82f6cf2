package money

import "testing"

func TestAddAndTimes(t *testing.T) {
	a := New(1999, "EUR")
	got, err := a.Times(3).Add(New(1, "EUR"))
	if err != nil || got != New(5998, "EUR") {
		t.Errorf("1999×3+1 = %v, %v; want 5998 EUR", got, err)
	}
	if _, err := a.Add(New(1, "USD")); err == nil {
		t.Error("adding USD to EUR: got nil error, want a currency mismatch")
	}
	if got, _ := (Money{}).Add(a); got != a {
		t.Errorf("zero + %v = %v, want %v", a, got, a)
	}
}

func TestString(t *testing.T) {
	cases := []struct {
		m    Money
		want string
	}{
		{New(1234, "EUR"), "12.34 EUR"},
		{New(5, "EUR"), "0.05 EUR"},
		{New(-250, "USD"), "-2.50 USD"},
	}
	for _, tc := range cases {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
}
